-- demo step 4: a view over active nodes
create view public.active_nodes as
  select id, hostname, role, region, capacity_slots, last_heartbeat_at
  from public.nodes where is_active;
