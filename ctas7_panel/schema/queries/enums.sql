-- Enums of every non-system schema (types are looked up by name across schemas), oldest first.
select
  n.nspname as schema,
  t.typname as name,
  array(
    select e.enumlabel from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder
  ) as labels,
  d.description as comment
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
left join pg_description d
  on d.objoid = t.oid and d.classoid = 'pg_type'::regclass and d.objsubid = 0
where t.typtype = 'e'
  and n.nspname not in ('information_schema', 'pg_catalog')
  and n.nspname !~ '^pg_toast'
order by t.oid
