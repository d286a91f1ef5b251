-- =============================================================================================
-- Audit log and rate limits
-- =============================================================================================

-- One row per API call (REST, MCP, webhooks …). No foreign keys: the log outlives what it names,
-- and is written in batches by the functions, off the request's critical path.
create table public.api_usage_logs (
  id bigint generated always as identity primary key,
  workspace_id bigint,
  function_name text not null,
  endpoint text not null,
  method text not null,
  table_id bigint,
  tool_name text,
  status_code integer not null,
  token_id bigint,
  user_id uuid,
  duration_ms numeric(10, 2) not null,
  request_id uuid,
  created_at timestamptz not null default now()
);
comment on table public.api_usage_logs is 'Audit log: every call with endpoint, method, table, status, token or user, duration';
create index api_usage_logs_workspace_created_idx on public.api_usage_logs (workspace_id, created_at desc);
create index api_usage_logs_token_idx on public.api_usage_logs (token_id, created_at desc) where token_id is not null;

alter table public.api_usage_logs enable row level security;
revoke all on public.api_usage_logs from anon, authenticated;
grant select on public.api_usage_logs to authenticated;
grant all on public.api_usage_logs to service_role;

create policy "Admins can read their workspace's usage" on public.api_usage_logs
  for select to authenticated using ((select public.has_role(workspace_id, 'admin')));

-- ---------------------------------------------------------------------------------------------
-- Rate limits: fixed one-minute windows per key (token or user), shared by every function
-- instance. Unlogged: counters are cheap to lose in a crash and must be cheap to write.
-- ---------------------------------------------------------------------------------------------
create unlogged table private.rate_limits (
  key text primary key,
  window_start timestamptz not null,
  hits integer not null
);
comment on table private.rate_limits is 'Request counters per token or user for the current window';

-- Counts one request and answers how many seconds to wait (0 when it is allowed).
create function private.rate_limit_hit(key text, max_hits integer, window_seconds integer default 60)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  win timestamptz := to_timestamp(floor(extract(epoch from clock_timestamp()) / window_seconds) * window_seconds);
  n integer;
begin
  insert into private.rate_limits as r (key, window_start, hits)
  values (rate_limit_hit.key, win, 1)
  on conflict on constraint rate_limits_pkey do update
    set hits = case when r.window_start = excluded.window_start then r.hits + 1 else 1 end,
        window_start = excluded.window_start
  returning hits into n;
  if n <= max_hits then
    return 0;
  end if;
  return greatest(1, ceil(extract(epoch from (win + make_interval(secs => window_seconds)) - clock_timestamp()))::integer);
end
$$;
comment on function private.rate_limit_hit(text, integer, integer) is
  'Counts a request against key; returns 0 when allowed, else the seconds until the window resets';

-- Old windows are swept every ten minutes.
select cron.schedule('aitizer-rate-limit-sweep', '*/10 * * * *',
  $$delete from private.rate_limits where window_start < now() - interval '1 hour'$$);
