-- Personas against RLS: owner, admin, editor, viewer, each token type, a token without a grid
-- row, and a stranger's workspace that stays invisible to all of them. Covers the metadata tables
-- and the rows of a provisioned data table (policies calling can_access_table).
begin;
select plan(43);

-- Arrange (as the owner of the database) ------------------------------------------------------
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'owner@p.test'),
  ('00000000-0000-4000-8000-0000000000a2', 'admin@p.test'),
  ('00000000-0000-4000-8000-0000000000a3', 'editor@p.test'),
  ('00000000-0000-4000-8000-0000000000a4', 'viewer@p.test'),
  ('00000000-0000-4000-8000-0000000000b1', 'stranger@p.test');
insert into public.workspaces (id, name) overriding system value values (900001, 'Ours'), (900002, 'Theirs');
insert into public.workspace_members (workspace_id, user_id, role) values
  (900001, '00000000-0000-4000-8000-0000000000a1', 'super_admin'),
  (900001, '00000000-0000-4000-8000-0000000000a2', 'admin'),
  (900001, '00000000-0000-4000-8000-0000000000a3', 'editor'),
  (900001, '00000000-0000-4000-8000-0000000000a4', 'viewer'),
  (900002, '00000000-0000-4000-8000-0000000000b1', 'super_admin')
on conflict (workspace_id, user_id) do update set role = excluded.role;
insert into public.api_tokens (id, workspace_id, name, token_type, prefix, token_hash, created_by) overriding system value
values
  (900101, 900001, 'rest full', 'rest_api', 'aitz_rest_p1', sha256('p1'), '00000000-0000-4000-8000-0000000000a1'),
  (900102, 900001, 'rest read', 'rest_api', 'aitz_rest_p2', sha256('p2'), '00000000-0000-4000-8000-0000000000a1'),
  (900103, 900001, 'rest none', 'rest_api', 'aitz_rest_p3', sha256('p3'), '00000000-0000-4000-8000-0000000000a1'),
  (900104, 900001, 'user mcp', 'user_mcp', 'aitz_umcp_p4', sha256('p4'), '00000000-0000-4000-8000-0000000000a1'),
  (900105, 900001, 'vibe', 'vibe_mcp', 'aitz_vmcp_p5', sha256('p5'), '00000000-0000-4000-8000-0000000000a1'),
  (900106, 900001, 'rest create', 'rest_api', 'aitz_rest_p7', sha256('p7'), '00000000-0000-4000-8000-0000000000a1'),
  (900201, 900002, 'their vibe', 'vibe_mcp', 'aitz_vmcp_p6', sha256('p6'), '00000000-0000-4000-8000-0000000000b1');
insert into public.app_tables (id, workspace_id, name) overriding system value values (900301, 900001, 'Ours T'),
  (900302, 900002, 'Theirs T');
insert into public.token_table_permissions (token_id, table_id, workspace_id, can_read_all, can_create, can_edit, can_delete)
values (900101, 900301, 900001, true, true, true, true), (900102, 900301, 900001, true, false, false, false),
       (900104, 900301, 900001, true, true, true, true), (900106, 900301, 900001, false, true, false, false);
insert into public.data_900301_900001 (id) overriding system value values (1), (2);
insert into public.data_900302_900002 (id) overriding system value values (1);

create function pg_temp.act_as_user(uid text) returns void language sql as $$
  select set_config('role', 'authenticated', true),
         set_config('request.jwt.claims', json_build_object('sub', uid, 'role', 'authenticated')::text, true);
$$;
create function pg_temp.act_as_token(tid bigint, ws bigint) returns void language sql as $$
  select set_config('role', 'authenticated', true),
         set_config('request.jwt.claims', json_build_object('sub', '00000000-0000-4000-8000-0000000000a1',
           'role', 'authenticated', 'aitizer_token_id', tid, 'aitizer_workspace_id', ws)::text, true);
$$;

-- The provisioned table ---------------------------------------------------------------------
select is((select relrowsecurity from pg_class where relname = 'data_900301_900001'), true, 'data table has RLS');
select is((select count(*)::int from pg_policies where tablename = 'data_900301_900001'), 4,
  'a policy per operation (reading: every row, or a token''s own rows)');

-- Owner --------------------------------------------------------------------------------------
select pg_temp.act_as_user('00000000-0000-4000-8000-0000000000a1');
select is((select count(*)::int from public.workspaces where id in (900001, 900002)), 1, 'owner: sees own workspace only');
select is((select count(*)::int from public.data_900301_900001), 2, 'owner: reads rows');
select is((select count(*)::int from public.data_900302_900002), 0, 'owner: stranger rows invisible');
select lives_ok($$insert into public.data_900301_900001 (id) overriding system value values (3)$$, 'owner: inserts');
select is((select count(*)::int from public.api_tokens where workspace_id = 900001), 6, 'owner: sees the tokens');
reset role;

-- Admin / editor / viewer ----------------------------------------------------------------------
select pg_temp.act_as_user('00000000-0000-4000-8000-0000000000a2');
select is((select count(*)::int from public.token_table_permissions where workspace_id = 900001), 5, 'admin: reads grids (4 given + the vibe token''s)');
reset role;
select pg_temp.act_as_user('00000000-0000-4000-8000-0000000000a3');
select is((select count(*)::int from public.app_tables where id in (900301, 900302)), 1, 'editor: sees own tables only');
select lives_ok($$update public.data_900301_900001 set updated_at = now() where id = 1$$, 'editor: updates rows');
select is((select count(*)::int from public.token_table_permissions where workspace_id = 900001), 0, 'editor: no grids');
select throws_ok($$insert into public.token_table_permissions (token_id, table_id, workspace_id) values (900103, 900301, 900001)$$,
  '42501', null, 'editor: cannot grant');
reset role;
select pg_temp.act_as_user('00000000-0000-4000-8000-0000000000a4');
select is((select count(*)::int from public.data_900301_900001), 3, 'viewer: reads rows');
select is((select role::text from public.table_access(900301, -1)), 'viewer', 'table_access: a user''s role');
select throws_ok($$insert into public.data_900301_900001 (id) overriding system value values (9)$$, '42501', null,
  'viewer: cannot insert');
select is_empty($$delete from public.data_900301_900001 returning 1$$, 'viewer: deletes nothing');
select throws_ok($$insert into public.app_columns (table_id, workspace_id, name, type) values (900301, 900001, 'x', 'text')$$,
  '42501', null, 'viewer: cannot change schema');
reset role;

-- Tokens -------------------------------------------------------------------------------------
select pg_temp.act_as_token(900101, 900001);
select is((select count(*)::int from public.data_900301_900001), 3, 'rest full: reads');
select lives_ok($$delete from public.data_900301_900001 where id = 3$$, 'rest full: deletes');
select is((select count(*)::int from public.app_tables where id in (900301, 900302)), 1, 'rest full: sees granted table');
select is((select count(*)::int from public.workspaces where id = 900002), 0, 'rest full: stranger workspace invisible');
reset role;
select pg_temp.act_as_token(900102, 900001);
select is((select count(*)::int from public.data_900301_900001), 2, 'rest read: reads');
select throws_ok($$insert into public.data_900301_900001 (id) overriding system value values (8)$$, '42501', null,
  'rest read: cannot insert');
select is_empty($$update public.data_900301_900001 set updated_at = now() returning 1$$, 'rest read: updates nothing');
select is((select grid ->> 'can_read_all' from public.table_access(900301, -1)), 'true', 'table_access: a token''s grid row');
select is((select fresh is null from public.table_access(900301,
  (select schema_version from public.app_tables where id = 900301))), true, 'table_access: no metadata when the copy is current');
reset role;
select pg_temp.act_as_token(900106, 900001);
select is((select count(*)::int from public.data_900301_900001), 0, 'rest create-only: reads no one else''s rows');
select results_eq($$insert into public.data_900301_900001 (id, created_by_token) overriding system value values (10, 900106)
    returning created_by_token$$,
  $$values (900106::bigint)$$, 'rest create-only: inserts and reads back the new row');
select is((select count(*)::int from public.data_900301_900001), 1, 'rest create-only: reads only its own rows');
select is_empty($$update public.data_900301_900001 set updated_at = now() returning 1$$, 'rest create-only: edits nothing');
reset role;
select pg_temp.act_as_token(900103, 900001);
select is((select count(*)::int from public.app_tables where workspace_id = 900001), 0, 'rest without grid: no tables');
select is((select count(*)::int from public.data_900301_900001), 0, 'rest without grid: no rows');
select is_empty($$select * from public.table_access(900301, -1)$$, 'table_access: nothing for a token without a grid row');
reset role;
select pg_temp.act_as_token(900104, 900001);
select is((select count(*)::int from public.data_900301_900001), 3, 'user_mcp: reads (2 + the create-only token''s row)');
select is(public.can_access_table(900301, 'schema'), false, 'user_mcp: never changes schema');
select throws_ok($$insert into public.app_columns (table_id, workspace_id, name, type) values (900301, 900001, 'x', 'text')$$,
  '42501', null, 'user_mcp: cannot add columns');
reset role;
select pg_temp.act_as_token(900105, 900001);
select is((select count(*)::int from public.token_table_permissions where token_id = 900105), 1,
  'vibe_mcp: granted every table');
select is((select count(*)::int from public.data_900302_900002), 0, 'vibe_mcp: stranger rows invisible');
select is(public.can_access_table(900301, 'drop'), true, 'vibe_mcp: may drop its workspace tables');
reset role;

-- The stranger sees nothing of ours --------------------------------------------------------------
select pg_temp.act_as_user('00000000-0000-4000-8000-0000000000b1');
select is((select count(*)::int from public.app_tables where workspace_id = 900001), 0, 'stranger: no tables of ours');
select is((select count(*)::int from public.data_900301_900001), 0, 'stranger: no rows of ours');
select is_empty($$select * from public.table_access(900301, -1)$$, 'table_access: nothing for a stranger');
select is((select count(*)::int from public.api_tokens where workspace_id = 900001), 0, 'stranger: no tokens of ours');
reset role;

select * from finish();
rollback;
