-- Supabase's type list, for the Python, Go and Swift generators: every type of every schema
-- (system ones too) that is not a row type, or is the row type of a composite type, table,
-- partitioned table, view, materialized view or foreign table (postgres-meta 0.98 leaves foreign
-- tables out; the generator filters by "relation_kind"). Array types included. Oldest first: the
-- order postgres-meta 0.98 reads them in (its plan walks pg_type's oid index).
select
  n.nspname as schema,
  t.typname as name,
  coalesce(c.relkind::text, '') as relation_kind
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
left join pg_class c on c.oid = t.typrelid
where t.typrelid = 0 or c.relkind in ('c', 'r', 'v', 'm', 'p', 'f')
order by t.oid
