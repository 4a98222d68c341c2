-- Stand-alone composite types (CREATE TYPE ... AS) of every non-system schema, oldest first,
-- with their attributes in attnum order.
select
  n.nspname as schema,
  t.typname as name,
  coalesce((
    select jsonb_agg(
      jsonb_build_array(a.attname, at.typname, atn.nspname, coalesce(ac.relkind::text, ''),
                        format_type(a.atttypid, null))
      order by a.attnum)
    from pg_attribute a
    join pg_type at on at.oid = a.atttypid
    join pg_namespace atn on atn.oid = at.typnamespace
    left join pg_class ac on ac.oid = at.typrelid
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  ), '[]'::jsonb) as attributes,
  d.description as comment
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
join pg_class c on c.oid = t.typrelid and c.relkind = 'c'
left join pg_description d
  on d.objoid = t.oid and d.classoid = 'pg_type'::regclass and d.objsubid = 0
where n.nspname not in ('information_schema', 'pg_catalog')
  and n.nspname !~ '^pg_toast'
order by t.oid
