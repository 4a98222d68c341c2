-- Indexes of the relations of the included schemas ($1 text[]).
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
select
  i.indrelid::int8 as rel_oid,
  ic.relname as name,
  pg_get_indexdef(i.indexrelid) as definition,
  i.indisunique as is_unique,
  i.indisprimary as is_primary
from pg_index i
join pg_class ic on ic.oid = i.indexrelid
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s)
  and (%(all)s or c.oid = any(%(oids)s))
