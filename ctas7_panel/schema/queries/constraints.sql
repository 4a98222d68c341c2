-- Constraints of the relations of the included schemas ($1 text[]), NOT NULL ones excepted
-- (PostgreSQL 18 lists those too; nullability is in the columns).
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
select
  con.conrelid::int8 as rel_oid,
  con.conname as name,
  con.contype::text as kind,
  pg_get_constraintdef(con.oid) as definition,
  array(
    select a.attname
    from unnest(con.conkey) with ordinality as k(attnum, i)
    join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
    order by k.i
  ) as columns
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = any(%(schemas)s)
  and con.contype in ('p', 'u', 'f', 'c', 'x', 't')
  and (%(all)s or c.oid = any(%(oids)s))
