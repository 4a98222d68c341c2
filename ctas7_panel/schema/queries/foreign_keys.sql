-- Foreign keys of every non-system schema (relationships may reach through views of other
-- schemas), without the copies PostgreSQL makes on partitions. One-to-one when the key's
-- columns are exactly those of a primary key or unique constraint of the referencing table.
select
  con.conname as foreign_key_name,
  n1.nspname as schema,
  c1.relname as relation,
  array(
    select a.attname
    from unnest(con.conkey) with ordinality as k(attnum, i)
    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
    order by k.i
  ) as columns,
  exists (
    select 1
    from pg_constraint u
    where u.conrelid = con.conrelid
      and u.contype in ('p', 'u')
      and (select array_agg(x order by x) from unnest(u.conkey) as x)
        = (select array_agg(x order by x) from unnest(con.conkey) as x)
  ) as is_one_to_one,
  n2.nspname as referenced_schema,
  c2.relname as referenced_relation,
  array(
    select a.attname
    from unnest(con.confkey) with ordinality as k(attnum, i)
    join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum
    order by k.i
  ) as referenced_columns
from pg_constraint con
join pg_class c1 on c1.oid = con.conrelid
join pg_namespace n1 on n1.oid = c1.relnamespace
join pg_class c2 on c2.oid = con.confrelid
join pg_namespace n2 on n2.oid = c2.relnamespace
where con.contype = 'f'
  and con.conparentid = 0
  and n1.nspname not in ('information_schema', 'pg_catalog')
  and n1.nspname !~ '^pg_toast'
order by con.oid
