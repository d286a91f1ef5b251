-- The grant table_access() leaves for the data tables' policies (migration 0017): honoured only
-- for the table, the operations and the very claims it was computed for; absent when access is
-- refused; gone with the transaction.
begin;
select plan(16);

insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000c1', 'owner@g.test'),
  ('00000000-0000-4000-8000-0000000000c2', 'viewer@g.test');
insert into public.workspaces (id, name) overriding system value values (910001, 'Granted'), (910002, 'Other');
insert into public.workspace_members (workspace_id, user_id, role) values
  (910001, '00000000-0000-4000-8000-0000000000c1', 'super_admin'),
  (910001, '00000000-0000-4000-8000-0000000000c2', 'viewer')
on conflict (workspace_id, user_id) do update set role = excluded.role;
insert into public.api_tokens (id, workspace_id, name, token_type, prefix, token_hash, created_by, revoked_at)
overriding system value values
  (910101, 910001, 'read only', 'rest_api', 'aitz_rest_g1', sha256('g1'), '00000000-0000-4000-8000-0000000000c1', null),
  (910102, 910001, 'revoked', 'rest_api', 'aitz_rest_g2', sha256('g2'), '00000000-0000-4000-8000-0000000000c1', now());
insert into public.app_tables (id, workspace_id, name) overriding system value values
  (910301, 910001, 'G1'), (910302, 910001, 'G2'), (910303, 910002, 'Theirs');
insert into public.token_table_permissions (token_id, table_id, workspace_id, can_read_all, can_create, can_edit, can_delete)
values (910101, 910301, 910001, true, false, false, false), (910102, 910301, 910001, true, true, true, true);
insert into public.data_910301_910001 (id) overriding system value values (1), (2);
insert into public.data_910302_910001 (id) overriding system value values (1);

create function pg_temp.claims_of_token(tid bigint) returns text language sql as $$
  select json_build_object('sub', '00000000-0000-4000-8000-0000000000c1', 'role', 'authenticated',
                           'aitizer_token_id', tid, 'aitizer_workspace_id', 910001)::text
$$;
create function pg_temp.act(claims text) returns void language sql as $$
  select set_config('role', 'authenticated', true), set_config('request.jwt.claims', claims, true);
$$;
create function pg_temp.granted(t bigint, op text) returns boolean language sql security definer as $$
  select private.granted(t, op)
$$;

-- A read-only token ---------------------------------------------------------------------------
select pg_temp.act(pg_temp.claims_of_token(910101));
select is(pg_temp.granted(910301, 'read'), false, 'no grant before table_access');
select isnt_empty($$select * from public.table_access(910301, -1)$$, 'table_access answers for the token');
select is(pg_temp.granted(910301, 'read'), true, 'then reads are granted on that table');
select is(pg_temp.granted(910301, 'see'), true, '... and seeing it');
select is(pg_temp.granted(910301, 'create'), false, '... but not what its grid does not allow');
select is(pg_temp.granted(910301, 'bogus'), false, 'an unknown operation is never granted');
select is(pg_temp.granted(910302, 'read'), false, 'nor any other table');
select is((select count(*)::int from public.data_910301_910001), 2, 'the granted table''s rows read through it');
select throws_ok($$insert into public.data_910301_910001 (id) overriding system value values (3)$$, '42501', null,
  'an insert is still refused');
select is((select count(*)::int from public.data_910302_910001), 0, 'the other table (no grid row) stays invisible');

-- Other claims in the same transaction do not inherit it ---------------------------------------
select pg_temp.act(pg_temp.claims_of_token(910102));
select is(pg_temp.granted(910301, 'read'), false, 'a grant is bound to the claims it was computed under');
select is_empty($$select * from public.table_access(910301, -1)$$, 'a revoked token gets no access row');
select is((select count(*)::int from public.data_910301_910001), 0, 'and reads nothing');

-- A viewer ------------------------------------------------------------------------------------
select pg_temp.act(json_build_object('sub', '00000000-0000-4000-8000-0000000000c2', 'role', 'authenticated')::text);
select isnt_empty($$select * from public.table_access(910301, -1)$$, 'table_access answers for a viewer');
select is(pg_temp.granted(910301, 'read'), true, 'a viewer is granted reads');
select is(pg_temp.granted(910301, 'edit'), false, 'and no writes');
reset role;
select * from finish();
rollback;
