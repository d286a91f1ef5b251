-- =============================================================================================
-- One permission check per request, not three.
--
-- A table-scoped request starts with public.table_access(), which reads the caller's role or grid
-- row for the table; the data table's RLS policies then asked the same question again through
-- public.can_access_table() (a security definer call with its own lookups, twice for a token's
-- read: 'read' and 'see'). Together they were about half of Postgres's work on `GET /records/:id`.
--
-- table_access() now reads everything in one lookup and leaves what it found in a transaction-local
-- setting, aitizer.granted: the table id, the operations allowed, and the exact claims text it
-- was computed for. private.granted(), a plain SQL expression inlined into the policies, answers
-- from it; only when it is absent or says no does a policy fall back to can_access_table().
--
-- Why this is as safe as before: the setting is local to the transaction (gone at COMMIT or
-- ROLLBACK), it is written only by table_access() after the same checks can_access_table() makes,
-- and it is honoured only for the very claims it was computed under. Forging it takes set_config,
-- and whoever can call set_config can already set request.jwt.claims, which every policy trusts.
-- The API never lets a caller run set_config (sql_query allow-lists its functions).
-- =============================================================================================

-- Layout of aitizer.granted: the table id left-padded to 20 digits, seven flags ('1' or '0') for
-- see, read, create, edit, delete, schema, drop, then the claims text.
create function private.granted(table_id bigint, operation text) returns boolean
language sql stable
as $$
  select coalesce(
    pg_catalog.substr(pg_catalog.current_setting('aitizer.granted', true), 1, 20)
      operator(pg_catalog.=) pg_catalog.lpad(table_id::text, 20, '0')
    and pg_catalog.substr(
          pg_catalog.current_setting('aitizer.granted', true),
          20 operator(pg_catalog.+) pg_catalog.strpos('srcedSD', case operation
            when 'see' then 's' when 'read' then 'r' when 'create' then 'c' when 'edit' then 'e'
            when 'delete' then 'd' when 'schema' then 'S' when 'drop' then 'D' end),
          1) operator(pg_catalog.=) '1'
    and pg_catalog.substr(pg_catalog.current_setting('aitizer.granted', true), 28)
      operator(pg_catalog.=) pg_catalog.current_setting('request.jwt.claims', true),
    false)
$$;
comment on function private.granted(bigint, text) is
  'Whether public.table_access(), earlier in this transaction and under these very claims, found the operation allowed on the table';
revoke all on function private.granted(bigint, text) from public, anon;
grant execute on function private.granted(bigint, text) to authenticated, service_role;

create or replace function public.table_access(table_id bigint, known_version bigint)
returns table (workspace_id bigint, version bigint, role public.workspace_role, grid json, fresh json)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  token bigint := public.current_token_id();
  uid uuid;
  a record;
  any_right boolean;
  ops text;
begin
  if token is null then
    uid := (select auth.uid());
  end if;
  -- One lookup: the table, and the token (live, of the table's workspace) and its grid row, or
  -- the user's membership.
  select t.id, t.workspace_id, t.schema_version, t.created_by_token, m.role as member_role,
         k.token_type, k.id is not null as live_token,
         g.token_id as grid_token, g.can_read_all, g.can_create, g.can_edit, g.can_delete
    into a
  from public.app_tables t
  left join public.api_tokens k
    on token is not null and k.id = token and k.workspace_id = t.workspace_id
   and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())
  left join public.token_table_permissions g
    on token is not null and g.token_id = token and g.table_id = t.id
  left join public.workspace_members m
    on token is null and m.workspace_id = t.workspace_id and m.user_id = uid
  where t.id = table_access.table_id;
  if not found then
    return;
  end if;

  if token is not null then
    -- A live token of the table's workspace, holding a grid row with some right (or its creator).
    any_right := coalesce(a.can_read_all or a.can_create or a.can_edit or a.can_delete, false);
    if not a.live_token or (not any_right and a.created_by_token is distinct from token) then
      return;
    end if;
    if a.grid_token is not null then
      grid := json_build_object('can_read_all', a.can_read_all, 'can_create', a.can_create,
                                'can_edit', a.can_edit, 'can_delete', a.can_delete);
    end if;
    -- The same answers as can_access_table() for this token.
    ops := any_right::int::text
        || coalesce(a.can_read_all, false)::int::text
        || coalesce(a.can_create, false)::int::text
        || coalesce(a.can_edit, false)::int::text
        || coalesce(a.can_delete, false)::int::text
        || (coalesce(a.can_edit, false) and a.token_type in ('rest_api', 'vibe_mcp'))::int::text
        || (coalesce(a.can_delete, false) and a.token_type in ('rest_api', 'vibe_mcp'))::int::text;
  else
    role := a.member_role;
    if role is null then
      return;
    end if;
    ops := case when role >= 'editor' then '1111111' else '1100000' end;
  end if;
  perform pg_catalog.set_config('aitizer.granted',
    pg_catalog.lpad(a.id::text, 20, '0') || ops || coalesce(pg_catalog.current_setting('request.jwt.claims', true), ''),
    true);

  workspace_id := a.workspace_id;
  version := a.schema_version;
  if a.schema_version is distinct from known_version then
    select json_build_object(
      'id', t.id, 'workspace_id', t.workspace_id, 'name', t.name, 'icon', t.icon,
      'pg_table_name', t.pg_table_name, 'created_at', t.created_at, 'updated_at', t.updated_at,
      'columns', coalesce((select json_agg(c order by c.position, c.id) from (
        select x.id, x.table_id, x.name, x.type, x.position, x.required, x.options, x.config, x.default_value,
               x.ai_populates, x.ai_purpose, x.pg_type, x.created_at, x.updated_at
        from public.app_columns x where x.table_id = t.id) c), '[]'))
      into fresh
    from public.app_tables t where t.id = a.id;
  end if;
  return next;
end
$$;

-- can_access_table() answers from the grant first too (its callers outside the data tables'
-- policies: metadata policies, views, executions).
create or replace function public.can_access_table(table_id bigint, operation text) returns boolean
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  token bigint;
begin
  if private.granted(can_access_table.table_id, can_access_table.operation) then
    return true;
  end if;
  token := public.current_token_id();
  if token is not null then
    return exists (
      select 1
      from public.token_table_permissions p
      join public.api_tokens t on t.id = p.token_id
      where p.token_id = token
        and p.table_id = can_access_table.table_id
        and t.revoked_at is null
        and (t.expires_at is null or t.expires_at > now())
        and case can_access_table.operation
          when 'see' then p.can_read_all or p.can_create or p.can_edit or p.can_delete
          when 'read' then p.can_read_all
          when 'create' then p.can_create
          when 'edit' then p.can_edit
          when 'delete' then p.can_delete
          when 'schema' then p.can_edit and t.token_type in ('rest_api', 'vibe_mcp')
          when 'drop' then p.can_delete and t.token_type in ('rest_api', 'vibe_mcp')
          else false
        end);
  end if;
  return exists (
    select 1
    from public.app_tables a
    join public.workspace_members m on m.workspace_id = a.workspace_id
    where a.id = can_access_table.table_id
      and m.user_id = (select auth.uid())
      and m.role >= case when can_access_table.operation in ('see', 'read') then 'viewer'
                         else 'editor' end::public.workspace_role);
end
$$;

-- The data tables' policies: the grant first (an inlined expression, no function call), the full
-- check only without it.
create or replace function private.data_table_policies(t text, table_id bigint) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  ok text := '((select private.granted(%2$s, %3$L)) or (select public.can_access_table(%2$s, %3$L)))';
  old_policy text;
begin
  for old_policy in select policyname from pg_catalog.pg_policies where schemaname = 'public' and tablename = t loop
    execute format('drop policy %I on public.%I', old_policy, t);
  end loop;
  execute format($ddl$
    create policy "Readers of the table can read its rows" on public.%1$I
      for select to authenticated using (%2$s);
    create policy "Tokens can read the rows they created" on public.%1$I
      for select to authenticated
      using (created_by_token = (select public.current_token_id()) and %3$s);
    create policy "Creators can insert rows" on public.%1$I
      for insert to authenticated with check (%4$s);
    create policy "Editors can update rows" on public.%1$I
      for update to authenticated using (%5$s) with check (%5$s);
    create policy "Deleters can delete rows" on public.%1$I
      for delete to authenticated using (%6$s);
  $ddl$, t,
    format(ok, t, table_id, 'read'), format(ok, t, table_id, 'see'), format(ok, t, table_id, 'create'),
    format(ok, t, table_id, 'edit'), format(ok, t, table_id, 'delete'));
end
$$;
comment on function private.data_table_policies(text, bigint) is 'The RLS policies of one data table (re)created';
revoke all on function private.data_table_policies(text, bigint) from public, anon, authenticated;

create or replace function private.provision_table() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  t text := format('data_%s_%s', new.id, new.workspace_id);
begin
  new.pg_table_name := t;
  execute format($ddl$
    create table public.%1$I (
      id bigint generated by default as identity primary key,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      created_by uuid,
      created_by_token bigint
    );
    comment on table public.%1$I is %2$L;
    alter table public.%1$I enable row level security;
    revoke all on public.%1$I from public, anon;
    grant select, insert, update, delete on public.%1$I to authenticated;
    grant all on public.%1$I to service_role;
    create trigger touch before update on public.%1$I
      for each row execute function private.touch_updated_at();
    create trigger unlink after delete on public.%1$I
      referencing old table as old_rows for each statement execute function private.unlink_deleted_rows(%3$s);
  $ddl$, t, format('Rows of app table %s (workspace %s)', new.id, new.workspace_id), new.id);
  perform private.data_table_policies(t, new.id);
  return new;
end
$$;

do $$
declare
  t record;
begin
  for t in select id, pg_table_name from public.app_tables where pg_table_name is not null loop
    perform private.data_table_policies(t.pg_table_name, t.id);
  end loop;
end
$$;
