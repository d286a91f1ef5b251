-- The hosted action-worker is woken through pg_net: a statement that enqueues jobs posts once to
-- the configured URL with the worker secret; without pg_net or a URL nothing happens. pg_net is
-- not installed here, so a stand-in net.http_post records the calls (inside this transaction).
begin;
select plan(6);

select is(private.wake_action_worker(), null, 'without pg_net, waking is a no-op');

create schema net;
create table net.calls (url text, body jsonb, headers jsonb);
create function net.http_post(url text, body jsonb, params jsonb, headers jsonb, timeout_milliseconds integer)
returns bigint language sql as $$
  insert into net.calls values (url, body, headers);
  select count(*) from net.calls;
$$;

select is(private.wake_action_worker(), null, 'without a configured URL, waking is a no-op');

insert into private.engine_settings values
  ('action_worker_url', 'https://example.supabase.co/functions/v1/action-worker'),
  ('action_worker_secret', 's3cret');

select is(private.wake_action_worker(), 1::bigint, 'with pg_net and a URL, the worker is called');
select is(
  (select headers ->> 'authorization' from net.calls limit 1),
  'Bearer s3cret',
  'the call carries the worker secret'
);

-- Enqueueing (one statement, three jobs) wakes the worker once.
delete from net.calls;
insert into public.workspaces (name) values ('wake test');
insert into public.app_tables (workspace_id, name)
  select id, 'wake table' from public.workspaces where name = 'wake test';
insert into public.engine_jobs (workspace_id, table_id, record_id, reason)
  select t.workspace_id, t.id, r, 'manual' from public.app_tables t, generate_series(1, 3) r where t.name = 'wake table';
select is((select count(*) from net.calls), 1::bigint, 'one statement that enqueues jobs posts once');
select is(
  (select url from net.calls),
  'https://example.supabase.co/functions/v1/action-worker',
  'to the configured action-worker URL'
);

select * from finish();
rollback;
