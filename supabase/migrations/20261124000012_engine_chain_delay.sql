-- =============================================================================================
-- Cross-table chains and delays. A write the engine makes to another table sets aitizer.chain
-- (the records its chain passed through); the job it enqueues carries it, so a chain that comes
-- back to a record stops. A delay column parks the job: it resumes after that column.
-- =============================================================================================
alter table public.engine_jobs add column resume_after bigint;
comment on column public.engine_jobs.resume_after is 'The delay column a parked job resumes after';

create or replace function private.enqueue_pipeline() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  app_table bigint := tg_argv[0]::bigint;
  workspace bigint := tg_argv[1]::bigint;
  chain text[] := coalesce(
    (select array_agg(x) from jsonb_array_elements_text(
       nullif(pg_catalog.current_setting('aitizer.chain', true), '')::jsonb) x), '{}');
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
  insert into public.engine_jobs (workspace_id, table_id, record_id, reason, chain)
  select workspace, app_table, n.id, case when tg_op = 'INSERT' then 'create' else 'edit' end, chain
  from new_rows n
  on conflict (table_id, record_id) where locked_by is null and reason <> 'manual' do nothing;
  perform pg_catalog.pg_notify('aitizer_jobs', app_table::text);
  return null;
end
$$;
