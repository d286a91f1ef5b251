-- =============================================================================================
-- The per-request table check in one call, and a cheaper current_token_id().
--
-- Every table-scoped request starts by reading the table's schema version and the caller's role
-- or grid row. Done as a plain query under RLS, that cost three policy evaluations (app_tables,
-- token_table_permissions and the helpers they call), about twice the rest of the request.
-- public.table_access() answers the same question in one security definer call: the caller is
-- taken from the transaction's claims, never from arguments, and a table the caller may not see
-- returns no row, exactly as the app_tables policy would hide it.
-- =============================================================================================

-- Inlinable (no SET clause, plain SQL over pg_catalog only): a SET clause made every call in a
-- policy a separate function invocation with its own GUC save and restore.
create or replace function public.current_token_id() returns bigint
language sql stable
as $$
  select nullif(
    nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb
      operator(pg_catalog.->>) 'aitizer_token_id',
    '')::pg_catalog.int8
$$;
comment on function public.current_token_id() is 'The workspace token acting in this transaction, or null for a user';

create function public.table_access(table_id bigint, known_version bigint)
returns table (workspace_id bigint, version bigint, role public.workspace_role, grid json, fresh json)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  token bigint := public.current_token_id();
  t public.app_tables;
  g public.token_table_permissions;
begin
  select * into t from public.app_tables a where a.id = table_access.table_id;
  if not found then
    return;
  end if;

  if token is not null then
    -- A live token of the table's workspace, holding a grid row with some right (or its creator).
    perform 1 from public.api_tokens k
    where k.id = token and k.workspace_id = t.workspace_id
      and k.revoked_at is null and (k.expires_at is null or k.expires_at > now());
    if not found then
      return;
    end if;
    select * into g from public.token_table_permissions p
    where p.token_id = token and p.table_id = t.id;
    if not coalesce(g.can_read_all or g.can_create or g.can_edit or g.can_delete, false)
       and t.created_by_token is distinct from token then
      return;
    end if;
    if g.token_id is not null then
      grid := json_build_object('can_read_all', g.can_read_all, 'can_create', g.can_create,
                                'can_edit', g.can_edit, 'can_delete', g.can_delete);
    end if;
  else
    select m.role into role from public.workspace_members m
    where m.workspace_id = t.workspace_id and m.user_id = (select auth.uid());
    if role is null then
      return;
    end if;
  end if;

  workspace_id := t.workspace_id;
  version := t.schema_version;
  if t.schema_version is distinct from known_version then
    fresh := json_build_object(
      'id', t.id, 'workspace_id', t.workspace_id, 'name', t.name, 'icon', t.icon,
      'pg_table_name', t.pg_table_name, 'created_at', t.created_at, 'updated_at', t.updated_at,
      'columns', coalesce((select json_agg(c order by c.position, c.id) from (
        select x.id, x.table_id, x.name, x.type, x.position, x.required, x.options, x.config, x.default_value,
               x.ai_populates, x.ai_purpose, x.pg_type, x.created_at, x.updated_at
        from public.app_columns x where x.table_id = t.id) c), '[]'));
  end if;
  return next;
end
$$;
comment on function public.table_access(bigint, bigint) is
  'The caller''s view of one table: workspace, schema version, role or grid row, and the metadata when the caller''s copy is stale; no row if the caller may not see it';

revoke all on function public.table_access(bigint, bigint) from public, anon;
grant execute on function public.table_access(bigint, bigint) to authenticated, service_role;
