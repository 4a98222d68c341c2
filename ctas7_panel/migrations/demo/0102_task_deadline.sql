-- demo step 2: tasks get a deadline and an index on it
alter table public.tasks add column deadline_at timestamptz;
create index tasks_deadline_idx on public.tasks (deadline_at);
