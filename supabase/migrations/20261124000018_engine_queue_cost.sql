-- =============================================================================================
-- The execution log's cost on the engine's write path. Every logged run paid two foreign-key
-- checks (row triggers, each a lookup that also takes a KEY SHARE lock on the table's and the
-- workspace's row, which concurrent workers then share through multixacts): about as much as the
-- insert itself. As for engine_jobs (migration 0016), the log of a deleted table is removed by
-- the app_tables delete trigger instead (a workspace's deletion cascades to its tables). A run
-- whose table is deleted while it finishes can leave a row no one can read: its table id is
-- never reused, and the policy hides rows of tables that do not exist.
-- =============================================================================================
alter table public.column_executions drop constraint column_executions_table_id_fkey;
alter table public.column_executions drop constraint column_executions_workspace_id_fkey;

create or replace function private.drop_table_jobs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.engine_jobs j using old_rows o where j.table_id = o.id;
  delete from public.column_executions e using old_rows o where e.table_id = o.id;
  return null;
end
$$;
comment on function private.drop_table_jobs() is 'Removes the queued jobs and the execution log of deleted tables';

-- The queue churns (every job is inserted, updated when claimed and deleted): dead rows pile up at
-- the front of the claim's index faster than the default autovacuum thresholds (20% of the table)
-- clean them, and every claim walks over them. Vacuum it as soon as a thousand rows are dead.
alter table public.engine_jobs set (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_cost_delay = 0,
  autovacuum_analyze_scale_factor = 0,
  autovacuum_analyze_threshold = 1000
);

-- The claim walked over every job already claimed (they stayed in its index, filtered out row by
-- row after a heap fetch): with a few hundred jobs in flight, that was most of the claim's cost.
-- Ready jobs and leased jobs now have an index each; a claim reads the first (and the second for
-- leases that ran out: their worker died).
drop index public.engine_jobs_ready_idx;
create index engine_jobs_ready_idx on public.engine_jobs (priority desc, run_at, id) where locked_by is null;
create index engine_jobs_lease_idx on public.engine_jobs (locked_until) where locked_by is not null;


-- The column types the engine runs (computed and action families), in one place for the triggers.
create function private.engine_column_types() returns text[]
language sql immutable
as $$
  select array['formula', 'json_parser', 'rollup', 'http_request', 'action', 'ai_agent', 'create_record',
               'update_record', 'delete_record', 'fetch_records', 'loop', 'delay']
$$;

-- Every UPDATE of a data table (the engine's writes included) looks for rollups elsewhere that read
-- it. That lookup scanned every column of every table; it now starts from the relation columns
-- pointing at the table (an index since migration 0006) and finds their rollups by index. The job
-- insert carries the engine-columns check as its own condition: one statement, not two.
create index app_columns_rollup_relation_idx on public.app_columns (((config ->> 'rollupRelationColumnId')::bigint))
  where type = 'rollup';

create or replace function private.enqueue_pipeline() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  app_table bigint := tg_argv[0]::bigint;
  workspace bigint := tg_argv[1]::bigint;
  changed bigint[];
  r record;
  inserted bigint;
  woke boolean := false;
begin
  -- Rollups elsewhere that read these rows (through a relation column pointing at this table).
  if tg_op = 'UPDATE' then
    for r in
      select rc.table_id, t.workspace_id, t.pg_table_name, rel.id as rel_col
      from public.app_columns rel
      join public.app_columns rc
        on rc.type = 'rollup' and (rc.config ->> 'rollupRelationColumnId')::bigint = rel.id
      join public.app_tables t on t.id = rc.table_id
      where rel.type = 'relation' and (rel.config ->> 'relationTableId')::bigint = app_table
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
  -- One statement: whether the table has engine columns is the insert's own condition (the
  -- chain a cross-table action carries, set by the engine, is read once, only if rows go in).
  if not (tg_op = 'UPDATE' and coalesce(pg_catalog.current_setting('aitizer.engine_write', true), '') = 'on') then
    insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain)
    select workspace, app_table, n.id, case when tg_op = 'INSERT' then 'create' else 'edit' end,
           (select coalesce(array_agg(x), '{}') from jsonb_array_elements_text(
              nullif(pg_catalog.current_setting('aitizer.chain', true), '')::jsonb) x)
    from new_rows n
    where exists (
      select 1 from public.app_columns c
      where c.table_id = app_table
        and c.type = any(private.engine_column_types()))
    on conflict (table_id, record_id) where locked_by is null and reason in ('create', 'edit', 'recompute')
    do nothing;
    get diagnostics inserted = row_count;
    woke := woke or inserted > 0;
  end if;
  if woke then
    perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  end if;
  return null;
end
$$;

-- The pg_net wake-up runs only where pg_net is installed: checked in the trigger's WHEN clause, not
-- by calling the function on every statement that enqueues (locally, LISTEN/NOTIFY wakes workers).
drop trigger engine_jobs_wake on public.engine_jobs;
create trigger engine_jobs_wake after insert on public.engine_jobs
  for each statement when (pg_catalog.to_regnamespace('net') is not null) execute function private.wake_on_new_jobs();

-- The minutely wake-up's check, in the shape the two queue indexes serve.
select cron.schedule('aitizer-engine-wake', '* * * * *', $$
  select private.wake_action_worker()
  where exists (select 1 from public.engine_jobs where locked_by is null and run_at <= now())
     or exists (select 1 from public.engine_jobs where locked_by is not null and locked_until < now())
$$);
