-- Foreign keys of every non-system schema (relationships may reach through views of other
-- schemas), without the copies PostgreSQL makes on partitions. One-to-one when the key's
-- columns are exactly those of a primary key or unique constraint of the referencing table.
with unique_keys as (
  select distinct u.conrelid, (select array_agg(x order by x) from unnest(u.conkey) as x) as cols
  from pg_constraint u
  where u.contype in ('p', 'u')
),
fks as (
  select
    con.oid,
    con.conname,
    con.conrelid,
    con.confrelid,
    con.conkey,
    con.confkey,
    (select array_agg(x order by x) from unnest(con.conkey) as x) as sorted_cols
  from pg_constraint con
  where con.contype = 'f' and con.conparentid = 0
)
select
  fk.conname as foreign_key_name,
  n1.nspname as schema,
  c1.relname as relation,
  array(
    select a.attname
    from unnest(fk.conkey) with ordinality as k(attnum, i)
    join pg_attribute a on a.attrelid = fk.conrelid and a.attnum = k.attnum
    order by k.i
  ) as columns,
  uk.conrelid is not null as is_one_to_one,
  n2.nspname as referenced_schema,
  c2.relname as referenced_relation,
  array(
    select a.attname
    from unnest(fk.confkey) with ordinality as k(attnum, i)
    join pg_attribute a on a.attrelid = fk.confrelid and a.attnum = k.attnum
    order by k.i
  ) as referenced_columns
from fks fk
join pg_class c1 on c1.oid = fk.conrelid
join pg_namespace n1 on n1.oid = c1.relnamespace
join pg_class c2 on c2.oid = fk.confrelid
join pg_namespace n2 on n2.oid = c2.relnamespace
left join unique_keys uk on uk.conrelid = fk.conrelid and uk.cols = fk.sorted_cols
where n1.nspname not in ('information_schema', 'pg_catalog')
  and n1.nspname !~ '^pg_toast'
order by fk.oid
