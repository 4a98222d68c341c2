-- Views and materialized views of the included schemas (the "schemas" parameter, text[]) in the
-- order a sequential scan of pg_class returns them (its physical order, not the oid's: ALTER,
-- GRANT or a rename move a row). postgres-meta 0.98's Python and Go output lists views that way.
select n.nspname as schema, c.relname as name
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('v', 'm')
  and n.nspname = any(%(schemas)s)
order by c.ctid
