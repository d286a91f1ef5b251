-- =============================================================================================
-- A data table without computed or action columns has nothing to run when a row is created, yet
-- every insert paid for the enqueue trigger (a PL/pgSQL call, the transition table, a statement
-- that inserts nothing): ~60 µs of Postgres per created record. The insert trigger is now enabled
-- only while the table has such a column: switched on when the first one is added, off when the
-- last one goes. (The update trigger stays: rollups in other tables read this table's rows.)
-- =============================================================================================

create function private.sync_enqueue_on_insert(app_table bigint) returns void
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
comment on function private.sync_enqueue_on_insert(bigint) is
  'Enables a data table''s insert trigger while it has computed or action columns, disables it otherwise';
revoke all on function private.sync_enqueue_on_insert(bigint) from public, anon, authenticated;

create function private.engine_columns_changed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    perform private.sync_enqueue_on_insert(old.table_id);
  else
    perform private.sync_enqueue_on_insert(new.table_id);
  end if;
  return null;
end
$$;
create trigger app_columns_engine_sync after insert or delete or update of type on public.app_columns
  for each row execute function private.engine_columns_changed();

-- New tables start with the insert trigger off (their columns switch it on as they come).
create or replace function private.attach_engine_triggers(app_table bigint, workspace bigint, physical text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute format($ddl$
    create trigger enqueue_on_insert after insert on public.%1$I
      referencing new table as new_rows for each statement execute function private.enqueue_pipeline(%2$s, %3$s);
    alter table public.%1$I disable trigger enqueue_on_insert;
    create trigger enqueue_on_update after update on public.%1$I
      referencing new table as new_rows for each statement execute function private.enqueue_pipeline(%2$s, %3$s);
  $ddl$, physical, app_table, workspace);
end
$$;

do $$
declare
  t record;
begin
  for t in select id from public.app_tables where pg_table_name is not null loop
    perform private.sync_enqueue_on_insert(t.id);
  end loop;
end
$$;
