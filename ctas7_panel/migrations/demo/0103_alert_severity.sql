-- demo step 3: an enum and an alerts table referencing nodes
create type public.alert_severity as enum ('info', 'warning', 'critical');
create table public.alerts (
  id bigint generated always as identity primary key,
  node_id uuid references public.nodes (id) on delete cascade,
  severity public.alert_severity not null default 'info',
  message text not null,
  acknowledged boolean not null default false,
  raised_at timestamptz not null default now()
);
