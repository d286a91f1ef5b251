-- =============================================================================================
-- Integrations: credentials (workspace-level, stored by admins), column secrets (entered in a
-- column's config), custom HTTP actions registered by admins, metering of the platform's LLM
-- key, and the wake-up of the hosted action-worker (pg_cron + pg_net).
--
-- Secrets are pgcrypto-encrypted with a key the database never stores (AITIZER_SECRETS_KEY,
-- passed by the functions as a query parameter). The ciphertext column is not granted to the
-- API roles: no policy, view or RPC ever returns it.
-- =============================================================================================

-- ---------------------------------------------------------------------------------------------
-- admin_credential: stored once per workspace by an admin; editors pick it by id.
-- ---------------------------------------------------------------------------------------------
create table public.credentials (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  name text not null check (length(name) between 1 and 200),
  integration text not null,
  secret bytea not null,
  hint text,
  created_by uuid,
  created_at timestamptz not null default now(),
  unique (workspace_id, name)
);
comment on table public.credentials is 'Workspace credentials for integrations (admin_credential mode); secret is pgp_sym_encrypt()ed';
comment on column public.credentials.hint is 'The last characters of the secret, to tell keys apart';
alter table public.credentials enable row level security;
revoke all on public.credentials from public, anon, authenticated;
grant select (id, workspace_id, name, integration, hint, created_by, created_at) on public.credentials to authenticated;
grant insert (workspace_id, name, integration, secret, hint, created_by) on public.credentials to authenticated;
grant delete on public.credentials to authenticated;
grant all on public.credentials to service_role;
-- Members may see that a credential exists (to pick it); only admins add or remove them.
create policy "Members see their workspace's credentials" on public.credentials
  for select to authenticated using ((select public.is_workspace_member(workspace_id)));
create policy "Admins add credentials" on public.credentials
  for insert to authenticated with check ((select public.has_role(workspace_id, 'admin')));
create policy "Admins remove credentials" on public.credentials
  for delete to authenticated using ((select public.has_role(workspace_id, 'admin')));

-- ---------------------------------------------------------------------------------------------
-- editor_credential (and http_request auth): secrets entered in a column's config live here,
-- one encrypted JSON object per column; the config keeps { "set": true } in their place.
-- ---------------------------------------------------------------------------------------------
create table public.column_secrets (
  column_id bigint primary key references public.app_columns (id) on delete cascade,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  secret bytea not null,
  updated_at timestamptz not null default now()
);
comment on table public.column_secrets is 'Secrets of a column config ({path: value}, encrypted); config holds {"set": true}';
alter table public.column_secrets enable row level security; -- no policies: functions only
revoke all on public.column_secrets from public, anon, authenticated;
grant all on public.column_secrets to service_role;

-- ---------------------------------------------------------------------------------------------
-- Custom HTTP actions: any endpoint, registered by an admin, reusable by every editor.
-- ---------------------------------------------------------------------------------------------
create table public.custom_actions (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  description text,
  method text not null default 'POST' check (method in ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
  url text not null,
  headers jsonb not null default '{}',
  body text,
  input_schema jsonb not null default '{}',
  credential_id bigint references public.credentials (id) on delete set null,
  auth_header text not null default 'Authorization',
  auth_scheme text not null default 'Bearer',
  created_by uuid,
  created_at timestamptz not null default now(),
  unique (workspace_id, name)
);
comment on table public.custom_actions is 'Workspace "custom HTTP" actions: templated request, typed inputs ({name: {type, required, description}})';
alter table public.custom_actions enable row level security;
revoke all on public.custom_actions from public, anon, authenticated;
grant select, insert, update, delete on public.custom_actions to authenticated;
grant all on public.custom_actions to service_role;
create policy "Members see their workspace's custom actions" on public.custom_actions
  for select to authenticated using ((select public.is_workspace_member(workspace_id)));
create policy "Admins add custom actions" on public.custom_actions
  for insert to authenticated with check ((select public.has_role(workspace_id, 'admin')));
create policy "Admins change custom actions" on public.custom_actions
  for update to authenticated using ((select public.has_role(workspace_id, 'admin')))
  with check ((select public.has_role(workspace_id, 'admin')));
create policy "Admins remove custom actions" on public.custom_actions
  for delete to authenticated using ((select public.has_role(workspace_id, 'admin')));

-- ---------------------------------------------------------------------------------------------
-- platform_llm: every call on the platform's key is metered per workspace.
-- ---------------------------------------------------------------------------------------------
create table public.platform_llm_usage (
  id bigint generated always as identity primary key,
  workspace_id bigint not null references public.workspaces (id) on delete cascade,
  table_id bigint,
  column_id bigint,
  record_id bigint,
  integration text not null,
  action text not null,
  model text,
  prompt_tokens integer not null default 0,
  completion_tokens integer not null default 0,
  total_tokens integer not null default 0,
  created_at timestamptz not null default now()
);
comment on table public.platform_llm_usage is 'Calls made with the platform LLM key (credentialMode platform_llm), for billing';
create index platform_llm_usage_ws_idx on public.platform_llm_usage (workspace_id, created_at);
alter table public.platform_llm_usage enable row level security;
revoke all on public.platform_llm_usage from public, anon, authenticated;
grant select on public.platform_llm_usage to authenticated;
grant all on public.platform_llm_usage to service_role;
create policy "Admins read their workspace's LLM usage" on public.platform_llm_usage
  for select to authenticated using ((select public.has_role(workspace_id, 'admin')));

-- ---------------------------------------------------------------------------------------------
-- Waking the hosted action-worker. Locally the gateway's worker listens for NOTIFY; on hosted
-- Supabase nothing listens, so new jobs (and, every minute, due delays and retries) call the
-- action-worker function through pg_net. Configure with:
--   insert into private.engine_settings values
--     ('action_worker_url', 'https://<ref>.supabase.co/functions/v1/action-worker'),
--     ('action_worker_secret', '<the AITIZER_WORKER_SECRET of the functions>');
-- Without pg_net or without a URL, waking is a no-op.
-- ---------------------------------------------------------------------------------------------
create table private.engine_settings (
  key text primary key,
  value text not null
);
comment on table private.engine_settings is 'Engine settings: action_worker_url, action_worker_secret (hosted wake-up)';

create function private.wake_action_worker() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  url text;
  secret text;
  request_id bigint;
begin
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    return null;
  end if;
  select value into url from private.engine_settings where key = 'action_worker_url';
  if url is null then
    return null;
  end if;
  select value into secret from private.engine_settings where key = 'action_worker_secret';
  execute 'select net.http_post(url => $1, body => $2, params => $3, headers => $4, timeout_milliseconds => $5)'
    into request_id
    using url, '{}'::jsonb, '{}'::jsonb,
          jsonb_build_object('content-type', 'application/json', 'authorization', 'Bearer ' || coalesce(secret, '')),
          5000;
  return request_id;
end
$$;
comment on function private.wake_action_worker() is 'POSTs to the action-worker function through pg_net, if configured';
revoke all on function private.wake_action_worker() from public;

create function private.wake_on_new_jobs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- One call per statement; cheap when pg_net is absent (a catalog lookup).
  if to_regnamespace('net') is not null then
    perform private.wake_action_worker();
  end if;
  return null;
end
$$;
create trigger engine_jobs_wake after insert on public.engine_jobs
  for each statement execute function private.wake_on_new_jobs();

-- Delays and retries come due without an insert: wake the worker every minute if any are due.
select cron.schedule('aitizer-engine-wake', '* * * * *', $$
  select private.wake_action_worker()
  where exists (select 1 from public.engine_jobs
                where run_at <= now() and (locked_by is null or locked_until < now()))
$$);
