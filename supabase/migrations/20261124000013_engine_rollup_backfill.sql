-- =============================================================================================
-- Rollups kept current, and computed columns recomputed in the background.
-- - A change to rows of a table enqueues a 'recompute' job (computed columns only) for every
--   record elsewhere whose rollup reads those rows through a relation column.
-- - Adding a computed column or changing its settings enqueues one 'backfill' job for the table:
--   it recomputes the table in batches, keeping its cursor in record_id and its progress in
--   progress, visible on the column.
-- =============================================================================================
alter table public.engine_jobs drop constraint engine_jobs_reason_check;
alter table public.engine_jobs add constraint engine_jobs_reason_check
  check (reason in ('create', 'edit', 'manual', 'recompute', 'backfill'));
alter table public.engine_jobs add column column_id bigint;
alter table public.engine_jobs add column progress jsonb;
comment on column public.engine_jobs.column_id is 'backfill: the computed column that changed';
comment on column public.engine_jobs.progress is 'backfill: {done, total}';
drop index public.engine_jobs_pending_key;
create unique index engine_jobs_pending_key on public.engine_jobs (table_id, record_id)
  where locked_by is null and reason in ('create', 'edit', 'recompute');
create unique index engine_jobs_backfill_key on public.engine_jobs (table_id, column_id)
  where reason = 'backfill';

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

-- A computed column added or changed: recompute its table in the background.
create function private.enqueue_backfill() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.type not in ('formula', 'json_parser', 'rollup') then
    return null;
  end if;
  if tg_op = 'UPDATE' and new.config is not distinct from old.config and new.type = old.type then
    return null;
  end if;
  insert into public.engine_jobs (workspace_id, table_id, record_id, reason, column_id, priority, progress)
  values (new.workspace_id, new.table_id, 0, 'backfill', new.id, -1, jsonb_build_object('done', 0, 'total', null))
  on conflict (table_id, column_id) where reason = 'backfill'
  do update set record_id = 0, progress = jsonb_build_object('done', 0, 'total', null), run_at = now();
  perform pg_catalog.pg_notify('aitizer_jobs', new.table_id::text);
  return null;
end
$$;
create trigger app_columns_backfill after insert or update on public.app_columns
  for each row execute function private.enqueue_backfill();
