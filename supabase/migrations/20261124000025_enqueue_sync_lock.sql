-- =============================================================================================
-- A data table's insert trigger follows its engine columns under concurrent column changes too.
--
-- private.sync_enqueue_on_insert (migration 0019) decided whether the table still needs its
-- insert trigger from what its own snapshot showed, before taking any lock. Two transactions that
-- each removed one of a table's two engine columns both still saw the other column and left the
-- trigger on (since migration 0024 an insert no longer checks, so every insert queued a job that
-- ran nothing); one that removed a column while another added one could leave it off with an
-- engine column present, and creates were never enqueued. It now locks the data table first
-- (SHARE ROW EXCLUSIVE, what enabling a trigger takes anyway, and which conflicts with itself),
-- then looks: a second change waits for the first to commit and decides on what it committed.
-- =============================================================================================

create or replace function private.sync_enqueue_on_insert(app_table bigint) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  physical regclass;
  needed boolean;
  enabled boolean;
begin
  select pg_catalog.to_regclass('public.' || pg_catalog.quote_ident(t.pg_table_name)) into physical
  from public.app_tables t where t.id = app_table;
  if physical is null then
    return; -- the table is gone, or not provisioned yet
  end if;
  execute format('lock table %s in share row exclusive mode', physical);
  -- The statements below take their snapshots after the lock: they see what a concurrent change committed.
  select g.tgenabled <> 'D' into enabled from pg_catalog.pg_trigger g
  where g.tgrelid = physical and g.tgname = 'enqueue_on_insert';
  if enabled is null then
    return;
  end if;
  needed := exists (
    select 1 from public.app_columns c
    where c.table_id = app_table
      and c.type = any(private.engine_column_types()));
  if needed and not enabled then
    execute format('alter table %s enable trigger enqueue_on_insert', physical);
  elsif enabled and not needed then
    execute format('alter table %s disable trigger enqueue_on_insert', physical);
  end if;
end
$$;
