-- public.table_allows() (migration 0020), the access check of one-statement requests: the same
-- answers as can_access_table() for every principal and operation, but only at the table's current
-- schema version; the grant it leaves serves the data tables' policies, as table_access()'s does.
begin;
select plan(14);

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000d1', 'owner@allows.test'),
  ('00000000-0000-4000-8000-0000000000d2', 'viewer@allows.test'),
  ('00000000-0000-4000-8000-0000000000d3', 'editor@allows.test'),
  ('00000000-0000-4000-8000-0000000000d4', 'stranger@allows.test');
insert into public.workspaces (id, name) overriding system value values (920001, 'Allows'), (920002, 'Other');
insert into public.workspace_members (workspace_id, user_id, role) values
  (920001, '00000000-0000-4000-8000-0000000000d1', 'super_admin'),
  (920001, '00000000-0000-4000-8000-0000000000d2', 'viewer'),
  (920001, '00000000-0000-4000-8000-0000000000d3', 'editor'),
  (920002, '00000000-0000-4000-8000-0000000000d4', 'super_admin')
on conflict (workspace_id, user_id) do update set role = excluded.role;
insert into public.api_tokens (id, workspace_id, name, token_type, prefix, token_hash, created_by, revoked_at, expires_at)
overriding system value values
  (920101, 920001, 'reader', 'rest_api', 'aitz_rest_a1', sha256('a1'), '00000000-0000-4000-8000-0000000000d1', null, null),
  (920102, 920001, 'creator', 'user_mcp', 'aitz_umcp_a2', sha256('a2'), '00000000-0000-4000-8000-0000000000d1', null, null),
  (920103, 920001, 'revoked', 'rest_api', 'aitz_rest_a3', sha256('a3'), '00000000-0000-4000-8000-0000000000d1', now(), null),
  (920104, 920001, 'expired', 'rest_api', 'aitz_rest_a4', sha256('a4'), '00000000-0000-4000-8000-0000000000d1', null,
   now() - interval '1 minute'),
  (920105, 920001, 'full', 'vibe_mcp', 'aitz_vmcp_a5', sha256('a5'), '00000000-0000-4000-8000-0000000000d1', null, null),
  (920106, 920002, 'elsewhere', 'rest_api', 'aitz_rest_a6', sha256('a6'), '00000000-0000-4000-8000-0000000000d4', null, null);
insert into public.app_tables (id, workspace_id, name) overriding system value values
  (920301, 920001, 'A1'), (920302, 920001, 'A2'), (920303, 920002, 'Theirs');
insert into public.token_table_permissions (token_id, table_id, workspace_id, can_read_all, can_create, can_edit, can_delete)
values
  (920101, 920301, 920001, true, false, false, false),
  (920102, 920301, 920001, false, true, true, true),
  (920103, 920301, 920001, true, true, true, true),
  (920104, 920301, 920001, true, true, true, true),
  (920105, 920301, 920001, true, true, true, true)
on conflict (token_id, table_id) do update
  set can_read_all = excluded.can_read_all, can_create = excluded.can_create,
      can_edit = excluded.can_edit, can_delete = excluded.can_delete;
insert into public.data_920301_920001 (id, created_by_token) overriding system value values (1, 920102), (2, null);

create function pg_temp.act(claims text) returns void language sql as $$
  select set_config('role', 'authenticated', true), set_config('request.jwt.claims', claims, true);
$$;
create function pg_temp.as_token(tid bigint) returns void language sql as $$
  select pg_temp.act(json_build_object('sub', '00000000-0000-4000-8000-0000000000d1', 'role', 'authenticated',
                                       'aitizer_token_id', tid, 'aitizer_workspace_id', 920001)::text)
$$;
create function pg_temp.as_user(uid uuid) returns void language sql as $$
  select pg_temp.act(json_build_object('sub', uid, 'role', 'authenticated')::text)
$$;
create function pg_temp.version(t bigint) returns bigint language sql security definer as $$
  select schema_version from public.app_tables where id = t
$$;
-- Every principal × table × operation where table_allows() at the current version and
-- can_access_table() disagree (each asked in a transaction state of its own: a savepoint).
create function pg_temp.disagreements() returns setof text language plpgsql as $$
declare
  who record;
  t bigint;
  op text;
  allows boolean;
  access boolean;
begin
  for who in select 'token' as kind, id::text as id from public.api_tokens where id between 920101 and 920106
             union all select 'user', id::text from auth.users where email like '%@allows.test' loop
    for t in select unnest(array[920301, 920302, 920303]) loop
      foreach op in array array['see', 'read', 'create', 'edit', 'delete', 'schema', 'drop'] loop
        begin
          if who.kind = 'token' then perform pg_temp.as_token(who.id::bigint); else perform pg_temp.as_user(who.id::uuid); end if;
          allows := public.table_allows(t, pg_temp.version(t), op);
          raise exception using errcode = 'P0001', message = allows::text;
        exception when raise_exception then
          allows := sqlerrm::boolean;
        end;
        begin
          if who.kind = 'token' then perform pg_temp.as_token(who.id::bigint); else perform pg_temp.as_user(who.id::uuid); end if;
          access := public.can_access_table(t, op);
          raise exception using errcode = 'P0001', message = access::text;
        exception when raise_exception then
          access := sqlerrm::boolean;
        end;
        if allows is distinct from access then
          return next format('%s %s on %s %s: table_allows %s, can_access_table %s', who.kind, who.id, t, op, allows, access);
        end if;
      end loop;
    end loop;
  end loop;
end
$$;

select is_empty($$select * from pg_temp.disagreements()$$,
  'table_allows() answers as can_access_table() for every principal, table and operation');

-- The version guard ----------------------------------------------------------------------------
select pg_temp.as_token(920101);
select is(public.table_allows(920301, pg_temp.version(920301), 'read'), true, 'a reader may read at the current version');
select is(public.table_allows(920301, pg_temp.version(920301) - 1, 'read'), false, 'not at a stale version');
select is(public.table_allows(920301, pg_temp.version(920301), 'create'), false, 'nor create without can_create');
select is(public.table_allows(920301, pg_temp.version(920301), 'bogus'), false, 'an unknown operation is refused');

-- The grant it leaves ---------------------------------------------------------------------------
select is((select count(*)::int from public.data_920301_920001), 2, 'after a yes, the table''s rows read through the grant');
select throws_ok($$insert into public.data_920301_920001 (id) overriding system value values (3)$$, '42501', null,
  'and an insert the grid does not allow is still refused');

-- A token with rights but no can_read_all sees the table and reads only its own rows.
select pg_temp.as_token(920102);
select is(public.table_allows(920301, pg_temp.version(920301), 'see'), true, 'a create-only token sees the table');
select is(public.table_allows(920301, pg_temp.version(920301), 'read'), false, 'but may not read every record');
select is((select array_agg(id order by id) from public.data_920301_920001), array[1::bigint],
  'RLS narrows it to the record it created');

-- Refusals leave nothing behind.
select pg_temp.as_token(920103);
select is(public.table_allows(920301, pg_temp.version(920301), 'read'), false, 'a revoked token is refused');
select is((select count(*)::int from public.data_920301_920001), 0, 'and reads nothing');
select pg_temp.as_user('00000000-0000-4000-8000-0000000000d4');
select is(public.table_allows(920301, pg_temp.version(920301), 'see'), false, 'a member of another workspace is refused');
select pg_temp.as_user('00000000-0000-4000-8000-0000000000d3');
select is(public.table_allows(920301, pg_temp.version(920301), 'create'), true, 'an editor may create');

reset role;
select * from finish();
rollback;
