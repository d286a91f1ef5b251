-- =============================================================================================
-- The enqueue trigger's cost on the write path: the chain of a cross-table action (a setting,
-- parsed as JSON) is read only when a job is actually made, not on every statement of every
-- data table.
-- =============================================================================================
create or replace function private.enqueue_pipeline() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  app_table bigint := tg_argv[0]::bigint;
  workspace bigint := tg_argv[1]::bigint;
  chain text[];
  changed bigint[];
  r record;
  woke boolean := false;
begin
  -- Rollups elsewhere that read these rows (through a relation column pointing at this table).
  if tg_op = 'UPDATE' then
    for r in
      select rc.table_id, t.workspace_id, t.pg_table_name, rel.id as rel_col
      from public.app_columns rc
      join public.app_columns rel on rel.id = (rc.config ->> 'rollupRelationColumnId')::bigint
      join public.app_tables t on t.id = rc.table_id
      where rc.type = 'rollup' and rel.type = 'relation' and (rel.config ->> 'relationTableId')::bigint = app_table
    loop
      changed := coalesce(changed, (select array_agg(n.id) from new_rows n));
      execute format(
        'insert into public.engine_jobs (workspace_id, table_id, record_id, reason)
         select $1, $2, x.id, ''recompute'' from public.%I x where x.%I && $3
         on conflict (table_id, record_id) where locked_by is null and reason in (''create'', ''edit'', ''recompute'')
         do nothing', r.pg_table_name, 'col_' || r.rel_col)
      using r.workspace_id, r.table_id, changed;
      woke := true;
    end loop;
  end if;

  -- (current_setting is null in a session that never set it: coalesce, or the test is null.)
  if not (tg_op = 'UPDATE' and coalesce(pg_catalog.current_setting('aitizer.engine_write', true), '') = 'on')
     and exists (
       select 1 from public.app_columns c
       where c.table_id = app_table
         and c.type in ('formula', 'json_parser', 'rollup', 'http_request', 'action', 'ai_agent', 'create_record',
                        'update_record', 'delete_record', 'fetch_records', 'loop', 'delay')) then
    -- The chain a cross-table action carries (set by the engine), read only when a job is made.
    chain := coalesce(
      (select array_agg(x) from jsonb_array_elements_text(
         nullif(pg_catalog.current_setting('aitizer.chain', true), '')::jsonb) x), '{}');
    insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain)
    select workspace, app_table, n.id, case when tg_op = 'INSERT' then 'create' else 'edit' end, chain
    from new_rows n
    on conflict (table_id, record_id) where locked_by is null and reason in ('create', 'edit', 'recompute')
    do nothing;
    woke := true;
  end if;
  if woke then
    perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  end if;
  return null;
end
$$;

-- Every enqueued job paid two foreign-key checks (row triggers with a lookup each) on the write
-- path. The jobs of a deleted table are removed by the trigger below instead (a workspace's
-- deletion cascades to its tables), and a job whose table is gone is dropped when claimed.
alter table public.engine_jobs drop constraint engine_jobs_table_id_fkey;
alter table public.engine_jobs drop constraint engine_jobs_workspace_id_fkey;

create function private.drop_table_jobs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.engine_jobs j using old_rows o where j.table_id = o.id;
  return null;
end
$$;
comment on function private.drop_table_jobs() is 'Removes the queued jobs of deleted tables';
create trigger app_tables_drop_jobs after delete on public.app_tables
  referencing old table as old_rows for each statement execute function private.drop_table_jobs();
