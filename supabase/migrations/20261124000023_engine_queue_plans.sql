-- =============================================================================================
-- The queue's plans no longer depend on what the statistics last said about its size.
--
-- A worker plans its statements on engine_jobs once per session (claim_jobs forces generic plans;
-- postgres.js prepares the others, and Postgres keeps a generic plan after five runs). When
-- autovacuum finds the queue empty, it truncates it and records 0 rows; a plan made after that is a
-- plan for an empty table: a sequential scan and a sort for the claim, a full scan of an index for a
-- lookup by id (with 0 rows expected, every index path costs about one page, so the planner took
-- whichever it met first, the ready index among them: id was its last column). The next burst ran
-- every claim and every finish over the whole queue until an ANALYZE invalidated those plans, up to
-- a minute later: two workers drained 10,000 jobs at 0.15-0.23x of the plain-fetch rate instead of
-- ~0.4x, one run in three.
--
-- Now nothing is left for the planner to get wrong:
--  * the queue's statements are functions that plan with sequential scans and sorts priced out
--    (enable_seqscan, enable_sort = off; penalties, not bans): the claim walks the ready index in
--    queue order, lookups by id go through the primary key;
--  * the ready index no longer ends in id, so no index but the primary key can answer "id = …";
--    jobs due at the same instant with the same priority are taken in the index's order;
--  * the claim's second look compares run_at with clock_timestamp(), which no index condition can
--    use (it asks whether the job is due now, which is what it means);
--  * finishing and requeueing jobs are functions too: private.finish_jobs, private.requeue_jobs.
-- =============================================================================================

drop index public.engine_jobs_ready_idx;
create index engine_jobs_ready_idx on public.engine_jobs (priority desc, run_at);

create or replace function private.claim_jobs(wanted integer, running bigint[])
returns table (
  id bigint, table_id bigint, record_id bigint, reason text, attempts integer, max_attempts integer,
  chain text[], resume_after bigint, progress jsonb, edits integer, schema_version bigint, locked boolean)
language plpgsql
set search_path = ''
-- Its statements' plans do not depend on the arguments' values; re-planning them for each call's
-- values (which Postgres kept doing: the generic plans' estimates looked worse) cost more than running them.
set plan_cache_mode = force_generic_plan
-- The plans must hold for any size of queue, whatever the statistics said when they were made.
set enable_seqscan = off
set enable_sort = off
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
      order by j.priority desc, j.run_at
      limit wanted + 1000
    ) q
    where q.table_id is not null
      and pg_catalog.pg_try_advisory_lock(private.job_key1(q.id), private.job_key2(q.id))
    limit wanted
  ) c;
  if pg_catalog.cardinality(taken) = 0 then
    return;
  end if;
  -- A second look, with a newer snapshot: drops the jobs another worker finished or put back after
  -- the first snapshot was taken (it released them once its writes committed).
  select coalesce(pg_catalog.array_agg(j.id), '{}') into fresh
  from public.engine_jobs j where j.id = any(taken) and j.run_at <= pg_catalog.clock_timestamp();
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

-- Jobs whose record was written while they ran (their `edits` moved) run again, now, with the
-- newest write's reason: what finish_jobs and requeue_jobs do with the jobs they did not settle.
create function private.rerun_jobs(job_ids bigint[], settled bigint[]) returns void
language plpgsql
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_sort = off
as $$
begin
  if pg_catalog.cardinality(settled) < pg_catalog.cardinality(job_ids) then
    update public.engine_jobs j set reason = coalesce(j.rerun_reason, j.reason), rerun_reason = null,
      run_at = pg_catalog.now(), attempts = 0, resume_after = null, last_error = null
    where j.id = any(job_ids) and j.id <> all(settled);
  end if;
end
$$;

-- Ends finished jobs: deletes each whose record was not written while it ran (its `edits` is still
-- what the claim saw); the others run again.
create function private.finish_jobs(job_ids bigint[], job_edits integer[]) returns void
language plpgsql
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_sort = off
as $$
declare
  gone bigint[];
begin
  with d as (
    delete from public.engine_jobs j
    where j.id = any(job_ids) and j.edits = job_edits[pg_catalog.array_position(job_ids, j.id)]
    returning j.id
  )
  select coalesce(pg_catalog.array_agg(d.id), '{}') into gone from d;
  perform private.rerun_jobs(job_ids, gone);
end
$$;
comment on function private.finish_jobs(bigint[], integer[]) is
  'Deletes finished jobs, or runs them again now if their record was written while they ran';

-- Puts claimed jobs back with a delay (a retry's backoff, a delay column, a busy record); a job
-- whose record was written while it ran (its `edits` moved) runs again instead. `items`:
-- [{id, delayMs, error?, attempts?, resumeAfter?, edits?}] (no `edits`: the job did not run).
create function private.requeue_jobs(items jsonb) returns void
language plpgsql
set search_path = ''
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_sort = off
as $$
declare
  job_ids bigint[] := array(select (e ->> 'id')::bigint from pg_catalog.jsonb_array_elements(items) e);
  delayed bigint[];
begin
  with d as (
    update public.engine_jobs j set
      run_at = pg_catalog.now() + r."delayMs" * interval '1 millisecond',
      last_error = coalesce(r.error, j.last_error),
      attempts = coalesce(r.attempts, j.attempts),
      resume_after = coalesce(r."resumeAfter", j.resume_after)
    from pg_catalog.jsonb_to_recordset(items)
      as r(id bigint, "delayMs" integer, error text, attempts integer, "resumeAfter" bigint, edits integer)
    where j.id = r.id and j.id = any(job_ids) and (r.edits is null or j.edits = r.edits)
    returning j.id
  )
  select coalesce(pg_catalog.array_agg(d.id), '{}') into delayed from d;
  perform private.rerun_jobs(job_ids, delayed);
end
$$;
comment on function private.requeue_jobs(jsonb) is
  'Puts claimed jobs back after a delay, or runs them anew now if their record was written meanwhile';

revoke all on function private.finish_jobs(bigint[], integer[]) from public, anon, authenticated;
revoke all on function private.requeue_jobs(jsonb) from public, anon, authenticated;
revoke all on function private.rerun_jobs(bigint[], bigint[]) from public, anon, authenticated;
