-- A data table's insert trigger runs only while the table has computed or action columns
-- (migration 0019): rows of a data-only table enqueue nothing and cost nothing extra.
begin;
select plan(6);

insert into public.workspaces (id, name) overriding system value values (920001, 'Enqueue');
insert into public.app_tables (id, workspace_id, name) overriding system value values (920301, 920001, 'E1');
create function pg_temp.insert_trigger_on() returns boolean language sql as $$
  select tgenabled <> 'D' from pg_trigger
  where tgrelid = 'public.data_920301_920001'::regclass and tgname = 'enqueue_on_insert'
$$;

select is(pg_temp.insert_trigger_on(), false, 'a new table starts with its insert trigger off');
insert into public.app_columns (id, table_id, workspace_id, name, type, position, config, pg_type) overriding system value
values (920401, 920301, 920001, 'Name', 'text', 1, '{}', 'text');
select is(pg_temp.insert_trigger_on(), false, 'data columns leave it off');
insert into public.app_columns (id, table_id, workspace_id, name, type, position, config, pg_type) overriding system value
values (920402, 920301, 920001, 'Call', 'http_request', 2, '{"httpUrl": "https://example.com/"}', 'jsonb');
select is(pg_temp.insert_trigger_on(), true, 'the first action column switches it on');
insert into public.data_920301_920001 (col_920401) values ('x');
select is((select count(*)::int from public.engine_jobs where table_id = 920301), 1, 'and a new row is enqueued');
delete from public.app_columns where id = 920402;
select is(pg_temp.insert_trigger_on(), false, 'removing the last one switches it off');
update public.app_columns set type = 'formula', config = '{"formula": "1"}' where id = 920401;
select is(pg_temp.insert_trigger_on(), true, 'a column changed to a computed type switches it on');

select * from finish();
rollback;
