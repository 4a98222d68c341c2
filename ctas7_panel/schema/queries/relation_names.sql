-- Names of some relations and their columns, by oid ($1 oid[]): the tables and views that a
-- view reads and that lie outside the included schemas.
select
  c.oid::int8 as oid,
  n.nspname as schema,
  c.relname as name,
  a.attnum as position,
  a.attname as column_name
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.oid = any(%(oids)s)
