-- =============================================================================================
-- Physical columns follow app_columns: a row with a pg_type adds col_<id> to its table, deleting
-- it drops the column, and the `indexed` setting (always on for relations) keeps one index per
-- column. Type conversions of existing values are run by the API before it updates the row.
-- Deleting a table also deletes the relation columns of other tables that pointed at it.
-- =============================================================================================

create function private.column_index_ddl(c public.app_columns, t text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when c.pg_type is null then null
    when c.pg_type like '%[]' and (c.type = 'relation' or coalesce((c.config ->> 'indexed')::boolean, false))
      then format('create index if not exists %I on public.%I using gin (%I)', t || '_col_' || c.id || '_idx', t, 'col_' || c.id)
    when coalesce((c.config ->> 'indexed')::boolean, false) and c.pg_type <> 'jsonb'
      then format('create index if not exists %I on public.%I (%I)', t || '_col_' || c.id || '_idx', t, 'col_' || c.id)
  end
$$;
comment on function private.column_index_ddl(public.app_columns, text) is
  'The CREATE INDEX for a column: GIN for arrays (relations always), btree when indexed, none otherwise';

create function private.sync_physical_column() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.app_columns := case when tg_op = 'DELETE' then old else new end;
  t text;
  ddl text;
begin
  select pg_table_name into t from public.app_tables where id = c.table_id;
  -- The table itself is being dropped (cascade): nothing left to change.
  if t is null or to_regclass('public.' || quote_ident(t)) is null then
    return null;
  end if;

  if tg_op = 'INSERT' then
    if new.pg_type is not null then
      execute format('alter table public.%I add column %I %s', t, 'col_' || new.id, new.pg_type);
    end if;
  elsif tg_op = 'DELETE' then
    execute format('alter table public.%I drop column if exists %I', t, 'col_' || old.id);
    return null;
  elsif new.pg_type is distinct from old.pg_type then
    -- The API converts values first (alter … type … using); a column that stores nothing now, or
    -- did not before, is dropped or added here.
    if new.pg_type is null then
      execute format('alter table public.%I drop column if exists %I', t, 'col_' || new.id);
    elsif old.pg_type is null then
      execute format('alter table public.%I add column %I %s', t, 'col_' || new.id, new.pg_type);
    end if;
  end if;

  if tg_op = 'UPDATE' then
    execute format('drop index if exists public.%I', t || '_col_' || new.id || '_idx');
  end if;
  ddl := private.column_index_ddl(new, t);
  if ddl is not null then
    execute ddl;
  end if;
  return null;
end
$$;
comment on function private.sync_physical_column() is 'Adds, drops and indexes col_<id> as app_columns rows change';

create trigger app_columns_physical after insert or delete on public.app_columns
  for each row execute function private.sync_physical_column();
create trigger app_columns_physical_update after update on public.app_columns
  for each row
  when (old.pg_type is distinct from new.pg_type or old.type is distinct from new.type
        or (old.config ->> 'indexed') is distinct from (new.config ->> 'indexed'))
  execute function private.sync_physical_column();

-- A table's rows are about to disappear: relation columns elsewhere that point at it go too.
create function private.drop_relations_to_table() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.app_columns
  where type = 'relation' and (config ->> 'relationTableId')::bigint = old.id and table_id <> old.id;
  return old;
end
$$;
comment on function private.drop_relations_to_table() is 'Deletes relation columns that point at a table being deleted';

create trigger app_tables_drop_relations before delete on public.app_tables
  for each row execute function private.drop_relations_to_table();

-- A user sees every table of the workspaces they belong to. Said with has_role rather than
-- can_access_table, which looks the table up again: that lookup cannot see a row being inserted,
-- so INSERT … RETURNING by a user would fail its own select policy.
drop policy "Principals can see the tables they have access to" on public.app_tables;
create policy "Principals can see the tables they have access to" on public.app_tables
  for select to authenticated
  using (
    (select public.has_role(workspace_id, 'viewer'))
    or public.can_access_table(id, 'see')
    or created_by_token = (select public.current_token_id())
  );
