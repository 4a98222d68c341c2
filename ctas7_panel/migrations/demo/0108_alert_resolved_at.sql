-- demo step 8: a nullable column on alerts
alter table public.alerts add column resolved_at timestamptz;
