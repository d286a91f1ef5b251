-- =============================================================================================
-- A job's lease is now a session advisory lock on its id, taken by the claim, not a row UPDATE.
-- The claim used to write every job it took (locked_by, locked_until, attempts): a non-HOT update
-- that moved the row between the queue's partial indexes, left a dead tuple the next claims walked
-- over, and cost about as much Postgres as the job's result and log together. A lock costs no
-- write. The lease ends with the worker's session: when a worker dies, its connection closes and
-- Postgres releases its locks at once (no waiting for a lease to run out). A worker that hangs with
-- its connection open is found by its heartbeat (public.engine_workers): the minutely pg_cron job
-- ends its session, which releases its jobs.
--
-- Dedupe: one create/edit/recompute job per record, pending or running (the unique index no longer
-- depends on a claim column). A write to a record whose job exists bumps the job's `edits`; the
-- worker compares it with what it saw when it claimed the job, and runs the pipeline again (with
-- the newest reason) when the record changed during the run, instead of deleting the job.
-- =============================================================================================

-- Any stale lease columns go; of two jobs of one record (one was running), the newer one stays.
delete from public.engine_jobs a using public.engine_jobs b
where a.table_id = b.table_id and a.record_id = b.record_id and a.id < b.id
  and a.reason in ('create', 'edit', 'recompute') and b.reason in ('create', 'edit', 'recompute');

drop index public.engine_jobs_pending_key;
drop index public.engine_jobs_ready_idx;
drop index public.engine_jobs_lease_idx;
alter table public.engine_jobs
  drop column locked_by,
  drop column locked_until,
  add column edits integer not null default 0,
  add column rerun_reason text check (rerun_reason in ('edit', 'recompute'));
comment on column public.engine_jobs.edits is
  'Writes to the record since the job was queued: a change during a run makes the worker run it again';
comment on column public.engine_jobs.rerun_reason is 'The reason of the writes counted in edits';
comment on table public.engine_jobs is
  'Pipeline jobs: one per record (create/edit/recompute), claimed with a session advisory lock on the id';

create unique index engine_jobs_pending_key on public.engine_jobs (table_id, record_id)
  where reason in ('create', 'edit', 'recompute');
create index engine_jobs_ready_idx on public.engine_jobs (priority desc, run_at, id);
-- Jobs are inserted and deleted, no longer updated when claimed: room for the rare update in place.
alter table public.engine_jobs set (fillfactor = 90);

-- ---------------------------------------------------------------------------------------------
-- Lock keys. A job's lock uses the two-int4 key space (Postgres keeps it apart from the one-bigint
-- space the record locks use), both halves non-negative so pg_locks shows them as they are.
-- ---------------------------------------------------------------------------------------------
-- (No SET clause: it would keep Postgres from inlining them into the statements that use them,
-- which made every call a statement of its own.)
create function private.job_key1(job bigint) returns integer
language sql immutable parallel safe
as $$ select (1246703443 + (job >> 31))::integer $$;

create function private.job_key2(job bigint) returns integer
language sql immutable parallel safe
as $$ select (job & 2147483647)::integer $$;

comment on function private.job_key1(bigint) is 'First half of a job''s advisory-lock key (see private.claim_jobs)';
comment on function private.job_key2(bigint) is 'Second half of a job''s advisory-lock key';

-- Whether some session holds the job (a worker runs it).
create function private.job_running(job bigint) returns boolean
language sql stable
set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_locks l
    where l.locktype = 'advisory' and l.objsubid = 2 and l.granted
      and l.classid = private.job_key1(job)::oid and l.objid = private.job_key2(job)::oid)
$$;
comment on function private.job_running(bigint) is 'Whether a worker holds the job''s lease (its advisory lock)';

-- ---------------------------------------------------------------------------------------------
-- The claim: walks ready jobs in queue order and keeps the first `wanted` whose lock it gets
-- (skipping the ones this session already runs: advisory locks are re-entrant within a session).
-- The lock is tried on each row as the outer LIMIT pulls it (the inner query, a LIMIT of its own,
-- is a fence the lock condition is never pushed through), so no job is locked that is not
-- returned. A second look, with a newer snapshot, drops the jobs another worker finished (deleted)
-- or put back for later after the first one's snapshot was taken, and gives their locks back.
-- Each returned job also tries its record's lock (a backfill takes none): `locked` says whether
-- it got it. `attempts` is the attempt this run is (the stored count is of attempts that ended).
-- ---------------------------------------------------------------------------------------------
create function private.claim_jobs(wanted integer, running bigint[])
returns table (
  id bigint, table_id bigint, record_id bigint, reason text, attempts integer, max_attempts integer,
  chain text[], resume_after bigint, progress jsonb, edits integer, schema_version bigint, locked boolean)
language plpgsql
set search_path = ''
-- Its statements' plans do not depend on the arguments' values; re-planning them for each call's
-- values (which Postgres kept doing: the generic plans' estimates looked worse) cost more than running them.
set plan_cache_mode = force_generic_plan
as $$
declare
  taken bigint[];
  fresh bigint[];
begin
  -- The inner limit leaves room for the jobs other workers run, ahead in the queue. The scan reads
  -- each job's row (table_id, a column the index lacks): an index-only scan never marks the entries
  -- of deleted jobs dead, so every claim walked over all of them until a vacuum came by.
  select coalesce(pg_catalog.array_agg(c.id), '{}') into taken
  from (
    select q.id from (
      select j.id, j.table_id from public.engine_jobs j
      where j.run_at <= pg_catalog.now() and j.id <> all(running)
      order by j.priority desc, j.run_at, j.id
      limit wanted + 1000
    ) q
    where q.table_id is not null
      and pg_catalog.pg_try_advisory_lock(private.job_key1(q.id), private.job_key2(q.id))
    limit wanted
  ) c;
  if pg_catalog.cardinality(taken) = 0 then
    return;
  end if;
  select coalesce(pg_catalog.array_agg(j.id), '{}') into fresh
  from public.engine_jobs j where j.id = any(taken) and j.run_at <= pg_catalog.now();
  if pg_catalog.cardinality(fresh) < pg_catalog.cardinality(taken) then
    perform pg_catalog.pg_advisory_unlock(private.job_key1(t), private.job_key2(t))
    from pg_catalog.unnest(taken) t where t <> all(fresh);
  end if;
  return query
    select j.id, j.table_id, j.record_id, j.reason, j.attempts + 1, j.max_attempts, j.chain, j.resume_after,
           j.progress, j.edits, a.schema_version,
           case when j.reason = 'backfill' then true
                else pg_catalog.pg_try_advisory_lock(
                  pg_catalog.hashtextextended('aitizer:' || j.table_id || ':' || j.record_id, 0)) end
    from public.engine_jobs j left join public.app_tables a on a.id = j.table_id
    where j.id = any(fresh)
    order by j.id;
end
$$;
comment on function private.claim_jobs(integer, bigint[]) is
  'Claims up to `wanted` ready jobs for this session (their advisory locks), skipping `running`';

-- Gives back the locks of jobs (after the transaction that settled them committed) and of records.
create function private.release_jobs(jobs bigint[], record_keys text[]) returns void
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_unlock(private.job_key1(j), private.job_key2(j))
  from pg_catalog.unnest(jobs) j;
  perform pg_catalog.pg_advisory_unlock(pg_catalog.hashtextextended(k, 0)) from pg_catalog.unnest(record_keys) k;
end
$$;
comment on function private.release_jobs(bigint[], text[]) is 'Releases this session''s job and record locks';

revoke all on function private.claim_jobs(integer, bigint[]) from public, anon, authenticated;
revoke all on function private.release_jobs(bigint[], text[]) from public, anon, authenticated;
revoke all on function private.job_running(bigint) from public, anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- Workers and their heartbeat: the lease of a worker that hangs with its connection open.
-- ---------------------------------------------------------------------------------------------
create table public.engine_workers (
  name text primary key,
  pid integer not null,
  backend_start timestamptz not null,
  seen_at timestamptz not null default now()
);
comment on table public.engine_workers is
  'Engine workers draining the queue: the session holding their jobs'' locks, and their last heartbeat';
alter table public.engine_workers enable row level security; -- no policies: workers only
revoke all on public.engine_workers from public, anon, authenticated;
grant all on public.engine_workers to service_role;

-- Called by a worker on its lock connection when it starts draining, and as its heartbeat.
create function private.engine_worker_beat(worker text) returns void
language sql
set search_path = ''
as $$
  insert into public.engine_workers (name, pid, backend_start)
  select worker, a.pid, a.backend_start from pg_catalog.pg_stat_activity a where a.pid = pg_catalog.pg_backend_pid()
  on conflict (name) do update set pid = excluded.pid, backend_start = excluded.backend_start, seen_at = now();
$$;
comment on function private.engine_worker_beat(text) is 'Registers a draining worker''s session, or renews its heartbeat';
revoke all on function private.engine_worker_beat(text) from public, anon, authenticated;

-- Ends the sessions of workers silent for two minutes (their jobs' locks go with them, so other
-- workers take the jobs), and forgets workers whose session is gone. Returns how many it ended.
create function private.reclaim_stalled_workers(silence interval default interval '2 minutes') returns integer
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
  return ended;
end
$$;
comment on function private.reclaim_stalled_workers(interval) is
  'pg_cron: ends the sessions of workers whose heartbeat stopped, releasing their jobs';
revoke all on function private.reclaim_stalled_workers(interval) from public, anon, authenticated;

-- (Scheduling a name again replaces its job.)
select cron.schedule('aitizer-engine-reclaim', '* * * * *', $$ select private.reclaim_stalled_workers() $$);
select cron.schedule('aitizer-engine-wake', '* * * * *', $$
  select private.wake_action_worker()
  where exists (select 1 from public.engine_jobs where run_at <= now() and not private.job_running(id))
$$);

-- ---------------------------------------------------------------------------------------------
-- Enqueueing: a write to a record whose job exists (pending or running) is counted on that job.
-- ---------------------------------------------------------------------------------------------
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
         on conflict (table_id, record_id) where reason in (''create'', ''edit'', ''recompute'')
         do update set edits = engine_jobs.edits + 1, rerun_reason = coalesce(engine_jobs.rerun_reason, ''recompute'')',
        r.pg_table_name, 'col_' || r.rel_col)
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
    on conflict (table_id, record_id) where reason in ('create', 'edit', 'recompute')
    do update set edits = engine_jobs.edits + 1, rerun_reason = 'edit';
    get diagnostics inserted = row_count;
    woke := woke or inserted > 0;
  end if;
  if woke then
    perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  end if;
  return null;
end
$$;
