-- =============================================================================================
-- The access check of a one-statement request: a yes or a no.
--
-- GET /records/:id and the create of one record run as one statement (records/service.ts) with
-- the table's metadata cached in the function instance. All they need to know is whether the
-- cached schema version is current and the caller may do the operation. If it is not, or the
-- caller may not, they take the checked path, which says why (403, 404) or refreshes the
-- metadata. public.table_access() answers more than that: the caller's role and grid, the
-- metadata when stale, a set-returning row. That was a third of Postgres's work on such a
-- request. public.table_allows() makes one lookup, answers with one boolean, and leaves the same
-- transaction-local grant (aitizer.granted, migration 0017) for the data tables' policies.
--
-- The flags of the grant are computed in one place for both functions: private.grant_flags().
-- =============================================================================================

-- The seven flags of aitizer.granted ('1' or '0' for see, read, create, edit, delete, schema,
-- drop), as can_access_table() answers them: from a token's grid row and type, or from a role.
create function private.grant_flags(
  can_read_all boolean, can_create boolean, can_edit boolean, can_delete boolean,
  token_type public.token_type, member_role public.workspace_role
) returns text
language sql immutable
as $$
  select case
    when token_type is not null then
      (coalesce(can_read_all or can_create or can_edit or can_delete, false))::int::text
        || coalesce(can_read_all, false)::int::text
        || coalesce(can_create, false)::int::text
        || coalesce(can_edit, false)::int::text
        || coalesce(can_delete, false)::int::text
        || (coalesce(can_edit, false) and token_type in ('rest_api', 'vibe_mcp'))::int::text
        || (coalesce(can_delete, false) and token_type in ('rest_api', 'vibe_mcp'))::int::text
    when member_role >= 'editor' then '1111111'
    when member_role is not null then '1100000'
  end
$$;
comment on function private.grant_flags(boolean, boolean, boolean, boolean, public.token_type, public.workspace_role)
  is 'The operation flags of aitizer.granted for a token''s grid row, or for a member''s role';
revoke all on function private.grant_flags(boolean, boolean, boolean, boolean, public.token_type, public.workspace_role)
  from public, anon, authenticated;

-- Leaves the grant for `table_id` under the current claims; the flags as given.
create function private.remember_grant(table_id bigint, flags text) returns text
language sql
as $$
  select pg_catalog.set_config('aitizer.granted',
    pg_catalog.lpad(table_id::text, 20, '0') || flags
      || coalesce(pg_catalog.current_setting('request.jwt.claims', true), ''),
    true)
$$;
comment on function private.remember_grant(bigint, text) is
  'Leaves aitizer.granted for the table under the current claims (read back by private.granted())';
revoke all on function private.remember_grant(bigint, text) from public, anon, authenticated;

create function public.table_allows(table_id bigint, known_version bigint, operation text) returns boolean
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  token bigint := public.current_token_id();
  flags text;
begin
  if token is not null then
    -- A live token of the table's workspace with a grid row for it.
    select private.grant_flags(g.can_read_all, g.can_create, g.can_edit, g.can_delete, k.token_type, null)
      into flags
    from public.token_table_permissions g
    join public.api_tokens k on k.id = g.token_id
    join public.app_tables t on t.id = g.table_id and t.workspace_id = k.workspace_id
    where g.token_id = token and g.table_id = table_allows.table_id
      and t.schema_version = table_allows.known_version
      and k.revoked_at is null and (k.expires_at is null or k.expires_at > pg_catalog.now());
  else
    select private.grant_flags(null, null, null, null, null, m.role)
      into flags
    from public.app_tables t
    join public.workspace_members m on m.workspace_id = t.workspace_id and m.user_id = (select auth.uid())
    where t.id = table_allows.table_id and t.schema_version = table_allows.known_version;
  end if;
  if flags is null or pg_catalog.left(flags, 1) operator(pg_catalog.<>) '1' then
    return false;
  end if;
  perform private.remember_grant(table_allows.table_id, flags);
  return coalesce(pg_catalog.substr(flags, pg_catalog.strpos('srcedSD', case operation
    when 'see' then 's' when 'read' then 'r' when 'create' then 'c' when 'edit' then 'e'
    when 'delete' then 'd' when 'schema' then 'S' when 'drop' then 'D' end), 1) operator(pg_catalog.=) '1', false);
end
$$;
comment on function public.table_allows(bigint, bigint, text) is
  'Whether the caller may do the operation on the table and its schema is at known_version; leaves the grant for the table''s policies';
revoke all on function public.table_allows(bigint, bigint, text) from public, anon;
grant execute on function public.table_allows(bigint, bigint, text) to authenticated, service_role;

-- table_access() with its flags from the same helper.
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
begin
  if token is null then
    uid := (select auth.uid());
  end if;
  -- One lookup: the table, and the token (live, of the table's workspace) and its grid row, or
  -- the user's membership.
  select t.id, t.workspace_id, t.schema_version, t.created_by_token, m.role as member_role,
         k.token_type, k.id is not null as live_token, g.token_id as grid_token,
         g.can_read_all, g.can_create, g.can_edit, g.can_delete
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
    if not a.live_token
       or (not coalesce(a.can_read_all or a.can_create or a.can_edit or a.can_delete, false)
           and a.created_by_token is distinct from token) then
      return;
    end if;
    if a.grid_token is not null then
      grid := json_build_object('can_read_all', a.can_read_all, 'can_create', a.can_create,
                                'can_edit', a.can_edit, 'can_delete', a.can_delete);
    end if;
  else
    role := a.member_role;
    if role is null then
      return;
    end if;
  end if;
  perform private.remember_grant(a.id,
    private.grant_flags(a.can_read_all, a.can_create, a.can_edit, a.can_delete, a.token_type, a.member_role));

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
