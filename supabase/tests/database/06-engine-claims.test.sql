-- Claims (migration 0022): a job's lease is a session advisory lock on its id. claim_jobs() takes
-- due jobs in queue order, never one this session already runs, never one not yet due; the locks
-- show in job_running() and go with release_jobs(); one create/edit/recompute job per record.
-- (Session locks outlive the rollback: they are released at the end.)
begin;
select plan(12);

insert into public.workspaces (id, name) overriding system value values (930001, 'Claims');
insert into public.app_tables (id, workspace_id, name) overriding system value values (930101, 930001, 'Q');
-- Priority 100 puts these ahead of anything else queued in this database.
insert into public.engine_jobs (id, workspace_id, table_id, record_id, reason, priority, run_at, attempts)
overriding system value values
  (930201, 930001, 930101, 1, 'create', 100, now() - interval '3 seconds', 0),
  (930202, 930001, 930101, 2, 'edit', 100, now() - interval '2 seconds', 2),
  (930203, 930001, 930101, 3, 'manual', 100, now() - interval '1 second', 0),
  (930204, 930001, 930101, 4, 'create', 100, now() + interval '1 hour', 0);

select is(
  (select array_agg(id order by id) from private.claim_jobs(2, '{}')),
  array[930201, 930202]::bigint[],
  'the first two due jobs, in queue order'
);
select is(
  (select count(*)::int from pg_catalog.pg_locks
   where locktype = 'advisory' and objsubid = 2 and pid = pg_catalog.pg_backend_pid()),
  2,
  'one advisory lock per claimed job, none for the rest'
);
select pg_advisory_unlock_all();
select is(
  (select array_agg(id order by id) from private.claim_jobs(2, '{}')),
  array[930201, 930202]::bigint[],
  'claimed again once released'
);
select is(
  (select array_agg(id order by id) from private.claim_jobs(5, array[930201, 930202]::bigint[])),
  array[930203]::bigint[],
  'the jobs this session runs are skipped; a job not yet due is not claimed'
);
select is(
  (select array_agg(attempts order by id) from public.engine_jobs where id in (930201, 930202)),
  array[0, 2],
  'claiming writes nothing to the job'
);
select ok(private.job_running(930201) and private.job_running(930203), 'claimed jobs show as running');
select ok(not private.job_running(930204), 'a job nobody claimed is not running');

select private.release_jobs(array[930201, 930202, 930203]::bigint[], '{}');
select ok(not private.job_running(930201) and not private.job_running(930203), 'released jobs are not running');

-- What the claim answers: the attempt the run is, the record lock, the table's schema version.
select is(
  (select row(attempts, locked, schema_version is not null)::text from private.claim_jobs(1, '{}')),
  '(1,t,t)',
  'the first attempt, with its record''s lock and its table''s schema version'
);

select throws_ok(
  $$ insert into public.engine_jobs (workspace_id, table_id, record_id, reason) values (930001, 930101, 1, 'edit') $$,
  '23505', null,
  'one create/edit/recompute job per record, running or not'
);
select lives_ok(
  $$ insert into public.engine_jobs (workspace_id, table_id, record_id, reason) values (930001, 930101, 1, 'manual') $$,
  'runs on demand are not deduplicated'
);

-- A worker whose session is gone is forgotten by the reclaim (nothing to end).
insert into public.engine_workers (name, pid, backend_start, seen_at)
values ('gone', 2147483000, now() - interval '1 day', now() - interval '1 day');
select is(private.reclaim_stalled_workers(), 0, 'no live session to end');

select pg_advisory_unlock_all();
select * from finish();
rollback;
