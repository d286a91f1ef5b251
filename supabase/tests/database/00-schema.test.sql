-- Every table in public has row level security: a new table that forgets fails here.
begin;
select plan(5);

select is(
  (select array_agg(c.relname::text order by c.relname)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null,
  'row level security is enabled on every table in public'
);

select is(
  (select array_agg(p.proname::text order by p.proname)
   from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'private') and p.prosecdef
     and not coalesce(p.proconfig @> array['search_path=""'], false)),
  null,
  'every security definer function pins search_path to empty'
);

select is(
  (select array_agg(c.relname::text order by c.relname)
   from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'public' and c.relkind = 'r'
     and has_table_privilege('anon', c.oid, 'select')),
  null,
  'anon can read no table in public'
);

-- updated_at follows every update (moddatetime, migration 0026), in metadata and data tables.
insert into public.workspaces (id, name) overriding system value values (920002, 'Touch');
insert into public.app_tables (id, workspace_id, name) overriding system value values (920302, 920002, 'T1');
insert into public.data_920302_920002 (id, updated_at) values (1, '2000-01-01');
update public.data_920302_920002 set created_by_token = 7 where id = 1;
select is((select updated_at from public.data_920302_920002 where id = 1), now(), 'a data row''s update sets updated_at');
update public.workspaces set updated_at = '2000-01-01', name = 'Touched' where id = 920002;
select is((select updated_at from public.workspaces where id = 920002), now(), 'so does a workspace''s');

select * from finish();
rollback;
