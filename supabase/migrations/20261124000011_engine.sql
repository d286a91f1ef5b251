-- =============================================================================================
-- The automation engine's storage: the job queue, the execution log, and the triggers that
-- enqueue a record's pipeline in the same transaction as the write that calls for it.
-- =============================================================================================

-- One pending pipeline per record (dedupe), claimed with FOR UPDATE SKIP LOCKED; a claim holds a
-- lease, and a job whose lease ran out is claimable again (its worker died): at-least-once.
create table public.engine_jobs (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  table_id bigint not null references public.app_tables (id) on delete cascade,
  record_id bigint not null,
  reason text not null check (reason in ('create', 'edit', 'manual')),
  -- Records already visited by the chain that led here ("<table>:<record>"): a cross-table
  -- action that comes back to one of them stops instead of looping.
  chain text[] not null default '{}',
  priority integer not null default 0,
  attempts integer not null default 0,
  max_attempts integer not null default 5,
  run_at timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  last_error text,
  created_at timestamptz not null default now()
);
comment on table public.engine_jobs is 'Pipeline jobs: one per record and reason, claimed by workers with SKIP LOCKED';
create unique index engine_jobs_pending_key on public.engine_jobs (table_id, record_id)
  where locked_by is null and reason <> 'manual';
create index engine_jobs_ready_idx on public.engine_jobs (priority desc, run_at, id);
alter table public.engine_jobs enable row level security; -- no policies: workers only
revoke all on public.engine_jobs from public, anon, authenticated;
grant all on public.engine_jobs to service_role;

create table public.column_executions (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  table_id bigint not null references public.app_tables (id) on delete cascade,
  record_id bigint not null,
  column_id bigint not null,
  job_id bigint,
  status text not null check (status in ('queued', 'running', 'success', 'skipped_condition', 'failed', 'timed_out')),
  request jsonb,
  response jsonb,
  error text,
  duration_ms numeric(12, 2),
  attempt integer not null default 1,
  created_at timestamptz not null default now()
);
comment on table public.column_executions is 'Every computed or action column run, per record: what was sent, what came back';
create index column_executions_record_idx on public.column_executions (table_id, record_id, id);
alter table public.column_executions enable row level security;
create policy "Readers of the table read its executions" on public.column_executions
  for select to authenticated using ((select public.can_access_table(table_id, 'read')));
revoke all on public.column_executions from public, anon, authenticated;
grant select on public.column_executions to authenticated;
grant all on public.column_executions to service_role;

-- ---------------------------------------------------------------------------------------------
-- Enqueueing: statement-level triggers on every data table. Tables without computed or action
-- columns cost one index lookup per statement. One NOTIFY per statement wakes the workers.
-- Writes made by the engine set aitizer.engine_write and do not enqueue edits.
-- ---------------------------------------------------------------------------------------------
create function private.enqueue_pipeline() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  app_table bigint := tg_argv[0]::bigint;
  workspace bigint := tg_argv[1]::bigint;
begin
  if tg_op = 'UPDATE' and pg_catalog.current_setting('aitizer.engine_write', true) = 'on' then
    return null;
  end if;
  if not exists (
    select 1 from public.app_columns c
    where c.table_id = app_table
      and c.type in ('formula', 'json_parser', 'rollup', 'http_request', 'action', 'ai_agent', 'create_record',
                     'update_record', 'delete_record', 'fetch_records', 'loop', 'delay')) then
    return null;
  end if;
  insert into public.engine_jobs (workspace_id, table_id, record_id, reason)
  select workspace, app_table, n.id, case when tg_op = 'INSERT' then 'create' else 'edit' end
  from new_rows n
  on conflict (table_id, record_id) where locked_by is null and reason <> 'manual' do nothing;
  perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  return null;
end
$$;
comment on function private.enqueue_pipeline() is 'Enqueues the pipeline of the rows a statement wrote (statement-level, one NOTIFY)';

create function private.attach_engine_triggers(app_table bigint, workspace bigint, physical text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute format($ddl$
    create trigger enqueue_on_insert after insert on public.%1$I
      referencing new table as new_rows for each statement execute function private.enqueue_pipeline(%2$s, %3$s);
    create trigger enqueue_on_update after update on public.%1$I
      referencing new table as new_rows for each statement execute function private.enqueue_pipeline(%2$s, %3$s);
  $ddl$, physical, app_table, workspace);
end
$$;

create function private.engine_triggers_for_new_table() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.attach_engine_triggers(new.id, new.workspace_id, new.pg_table_name);
  return null;
end
$$;
create trigger app_tables_engine_triggers after insert on public.app_tables
  for each row execute function private.engine_triggers_for_new_table();

do $$
declare
  t record;
begin
  for t in select id, workspace_id, pg_table_name from public.app_tables where pg_table_name is not null loop
    perform private.attach_engine_triggers(t.id, t.workspace_id, t.pg_table_name);
  end loop;
end
$$;

-- A worker that died leaves its jobs leased; they become claimable when the lease runs out
-- (workers claim expired leases themselves). This sweep also clears leases of jobs nobody polls.
select cron.schedule('aitizer-engine-reclaim', '* * * * *', $$
  update public.engine_jobs set locked_by = null, locked_until = null
  where locked_until < now() - interval '1 minute'
    and not exists (select 1 from public.engine_jobs p
                    where p.table_id = engine_jobs.table_id and p.record_id = engine_jobs.record_id
                      and p.locked_by is null and p.reason <> 'manual' and engine_jobs.reason <> 'manual')
$$);
