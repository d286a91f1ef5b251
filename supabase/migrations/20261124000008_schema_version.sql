-- A table's schema version moves with every change to the table or its columns, so API instances
-- can cache table metadata and check it with one indexed lookup per request.
alter table public.app_tables add column schema_version bigint not null default 0;
comment on column public.app_tables.schema_version is 'Incremented on every change to the table or its columns';

create function private.bump_schema_version() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_table_name = 'app_tables' then
    new.schema_version := old.schema_version + 1;
    return new;
  end if;
  update public.app_tables set schema_version = schema_version + 1
  where id = (case when tg_op = 'DELETE' then old.table_id else new.table_id end);
  return null;
end
$$;
comment on function private.bump_schema_version() is 'Moves app_tables.schema_version on table and column changes';

create trigger app_tables_schema_version before update on public.app_tables
  for each row execute function private.bump_schema_version();
create trigger app_columns_schema_version after insert or update or delete on public.app_columns
  for each row execute function private.bump_schema_version();
