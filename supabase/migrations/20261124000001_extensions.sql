-- =============================================================================================
-- Extensions and private schema
-- =============================================================================================
create extension if not exists pgcrypto with schema extensions;
create extension if not exists vector with schema extensions;
create extension if not exists pg_cron;

-- Internal objects the API roles never touch directly (queues, counters, helpers).
create schema if not exists private;
revoke all on schema private from public;
comment on schema private is 'AITIZER internals: not exposed to anon/authenticated';
