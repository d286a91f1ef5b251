-- The local demo workspace: one owner, three tokens, one table. Well-known local-only values
-- (scripts/demo.mjs prints them); never pushed to a hosted project. Idempotent.

insert into auth.users (id, email, aud, role, email_confirmed_at, raw_app_meta_data)
values ('00000000-0000-4000-8000-000000000001', 'owner@demo.aitizer.local', 'authenticated', 'authenticated', now(),
        '{"provider":"email"}')
on conflict (id) do nothing;

insert into public.workspaces (id, name, created_by)
values (1, 'Demo workspace', '00000000-0000-4000-8000-000000000001')
on conflict (id) do nothing;

select setval(pg_get_serial_sequence('public.workspaces', 'id'), greatest(1, (select max(id) from public.workspaces)));

insert into public.api_tokens (workspace_id, name, token_type, prefix, token_hash, created_by)
select 1, t.name, t.token_type::public.token_type, left(t.secret, 16), extensions.digest(t.secret, 'sha256'),
       '00000000-0000-4000-8000-000000000001'
from (values
  ('Demo REST token', 'rest_api', 'aitz_rest_demoLocalOnlyRestApiToken000000000000'),
  ('Demo user MCP token', 'user_mcp', 'aitz_umcp_demoLocalOnlyUserMcpToken00000000000'),
  ('Demo Vibe Builder token', 'vibe_mcp', 'aitz_vmcp_demoLocalOnlyVibeMcpToken00000000000')
) as t (name, token_type, secret)
on conflict (token_hash) do nothing;
