-- =============================================================================================
-- The enqueue trigger, cheaper on the write path (its target: 1.3x the same write without it).
-- Single-row inserts into a table with an action column, 8 clients (pgbench, 2 cores): ~27,700/s
-- without the trigger, ~8,100/s with it. Of the ~165 µs it added to each insert, ~60 µs was the
-- NOTIFY: a notifying transaction holds a database-wide lock from its pre-commit to its end, so
-- concurrent writers queue behind each other's commits (1 client: ~10 µs).
--  * NOTIFY only while a worker listens. Workers that LISTEN (the local gateway's) register in
--    public.engine_listeners and renew their row every 40 s; pg_cron drops rows silent for 2
--    minutes. Where no worker listens (hosted Supabase, whose worker pg_net wakes; a gateway with
--    AITIZER_ENGINE_WORKER=false) writes no longer pay for a notification nobody reads. A worker
--    catches what was queued before it registered with the drain it starts with.
--  * An insert no longer asks whether the table has engine columns: its insert trigger is enabled
--    only while it has some (migration 0019), in the same transaction as the column change. (A job
--    for a table without them runs nothing and is deleted.) Updates still ask: their trigger stays
--    enabled for the rollups of other tables.
--  * The chain a cross-table action carries is read once, in PL/pgSQL, and parsed only when the
--    engine set one; the insert no longer runs a subquery over an empty JSON array for it.
--  * An engine write (an update that runs no pipeline) returns right after its rollups.
-- =============================================================================================

create table public.engine_listeners (
  name text primary key,
  seen_at timestamptz not null default now()
);
comment on table public.engine_listeners is
  'Workers listening on aitizer_jobs; writes NOTIFY only while one is registered';
alter table public.engine_listeners enable row level security; -- no policies: the service role only
revoke all on public.engine_listeners from anon, authenticated;

create or replace function private.reclaim_stalled_workers(silence interval default interval '2 minutes')
returns integer
language plpgsql
set search_path = ''
as $$
declare
  ended integer;
begin
  select pg_catalog.count(*) filter (where pg_catalog.pg_terminate_backend(a.pid)) into ended
  from public.engine_workers w
  join pg_catalog.pg_stat_activity a on a.pid = w.pid and a.backend_start = w.backend_start
  where w.seen_at < pg_catalog.now() - silence;
  delete from public.engine_workers w
  where w.seen_at < pg_catalog.now() - silence
     or not exists (select 1 from pg_catalog.pg_stat_activity a where a.pid = w.pid and a.backend_start = w.backend_start);
  -- Listeners that stopped renewing (a process that died): writes stop notifying for them.
  delete from public.engine_listeners l where l.seen_at < pg_catalog.now() - silence;
  return ended;
end
$$;

create or replace function private.enqueue_pipeline() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  app_table bigint := tg_argv[0]::bigint;
  workspace bigint := tg_argv[1]::bigint;
  chain_setting text;
  chain text[] := '{}';
  changed bigint[];
  r record;
  inserted bigint := 0;
  woke boolean := false;
begin
  if tg_op = 'UPDATE' then
    -- Rollups elsewhere that read these rows (through a relation column pointing at this table).
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
         on conflict (table_id, record_id) where reason in (''create'', ''edit'', ''recompute'')
         do update set edits = engine_jobs.edits + 1, rerun_reason = coalesce(engine_jobs.rerun_reason, ''recompute'')',
        r.pg_table_name, 'col_' || r.rel_col)
      using r.workspace_id, r.table_id, changed;
      woke := true;
    end loop;
    -- The engine writing its results: no pipeline runs again for them.
    -- (current_setting is null in a session that never set it: coalesce, or the test is null.)
    if coalesce(pg_catalog.current_setting('aitizer.engine_write', true), '') = 'on' then
      if woke and exists (select 1 from public.engine_listeners) then
        perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
      end if;
      return null;
    end if;
  end if;

  chain_setting := pg_catalog.current_setting('aitizer.chain', true);
  if chain_setting <> '' then
    chain := array(select pg_catalog.jsonb_array_elements_text(chain_setting::jsonb));
  end if;
  if tg_op = 'INSERT' then
    insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain)
    select workspace, app_table, n.id, 'create', chain from new_rows n
    on conflict (table_id, record_id) where reason in ('create', 'edit', 'recompute')
    do update set edits = engine_jobs.edits + 1, rerun_reason = 'edit';
  else
    insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain)
    select workspace, app_table, n.id, 'edit', chain from new_rows n
    where exists (
      select 1 from public.app_columns c
      where c.table_id = app_table
        and c.type = any(private.engine_column_types()))
    on conflict (table_id, record_id) where reason in ('create', 'edit', 'recompute')
    do update set edits = engine_jobs.edits + 1, rerun_reason = 'edit';
  end if;
  get diagnostics inserted = row_count;
  if (woke or inserted > 0) and exists (select 1 from public.engine_listeners) then
    perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  end if;
  return null;
end
$$;
