-- The parsed query tree of every view and materialized view outside the system schemas: the
-- top-level target list tells which base-table column each view column passes through.
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
select
  c.oid::int8 as oid,
  n.nspname as schema,
  c.relname as name,
  r.ev_action::text as action
from pg_rewrite r
join pg_class c on c.oid = r.ev_class
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('v', 'm')
  and r.rulename = '_RETURN'
  and n.nspname not in ('information_schema', 'pg_catalog')
  and n.nspname !~ '^pg_toast'
  and (%(all)s or c.oid = any(%(oids)s))
