-- demo step 1: nodes get a region (a column added)
alter table public.nodes add column region text not null default 'eu-west-1';
