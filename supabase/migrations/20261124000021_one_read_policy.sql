-- =============================================================================================
-- One read policy per data table, its cheapest test first.
--
-- A data table had two permissive SELECT policies: "readers read every row" and "a token reads
-- the rows it created". Postgres ORs permissive policies in an order of its own, and it put the
-- second first: every read worked out the caller's token id from the claims (a JSON parse) and
-- the 'see' grant before it got to the grant that answers almost every read. One policy with the
-- same terms, in the order that answers soonest, says the same and reads less: `OR` evaluates its
-- arguments left to right and stops at the first true one.
-- =============================================================================================

create or replace function private.data_table_policies(t text, table_id bigint) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  ok text := '((select private.granted(%2$s, %3$L)) or (select public.can_access_table(%2$s, %3$L)))';
  old_policy text;
begin
  for old_policy in select policyname from pg_catalog.pg_policies where schemaname = 'public' and tablename = t loop
    execute format('drop policy %I on public.%I', old_policy, t);
  end loop;
  execute format($ddl$
    create policy "Readers read every row; other holders, the rows they created" on public.%1$I
      for select to authenticated
      using (%2$s or (created_by_token = (select public.current_token_id()) and %3$s));
    create policy "Creators can insert rows" on public.%1$I
      for insert to authenticated with check (%4$s);
    create policy "Editors can update rows" on public.%1$I
      for update to authenticated using (%5$s) with check (%5$s);
    create policy "Deleters can delete rows" on public.%1$I
      for delete to authenticated using (%6$s);
  $ddl$, t,
    format(ok, t, table_id, 'read'), format(ok, t, table_id, 'see'), format(ok, t, table_id, 'create'),
    format(ok, t, table_id, 'edit'), format(ok, t, table_id, 'delete'));
end
$$;
comment on function private.data_table_policies(text, bigint) is 'The RLS policies of one data table (re)created';
revoke all on function private.data_table_policies(text, bigint) from public, anon, authenticated;

do $$
declare
  t record;
begin
  for t in select id, pg_table_name from public.app_tables where pg_table_name is not null loop
    perform private.data_table_policies(t.pg_table_name, t.id);
  end loop;
end
$$;
