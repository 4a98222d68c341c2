-- demo step 6: a function returning a node's running executions
create function public.node_load(target_node uuid) returns integer
language sql stable as $$
  select count(*)::integer from public.task_executions
  where node_id = target_node and status = 'running'
$$;
