-- Foreign keys of every non-system schema (relationships may reach through views of other
-- schemas), without the copies PostgreSQL makes on partitions. One-to-one when the key's
-- columns, in the key's order, are exactly those of a primary key or unique constraint of the
-- referencing table in attnum order (PostgREST compares ordered lists: a key (code, id) on a
-- table whose primary key is (id, code) is not one-to-one). The key's columns come as attnums
-- (conkey, confkey): introspect names them from the columns it read (a join with pg_attribute
-- here was most of this query's time on 1000 tables).
-- key_schema_quoted: the key's schema name needs quoting (regnamespace::text differs from it).
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
with fks as (
  select con.oid, con.conname, con.conrelid, con.confrelid, con.conkey, con.confkey
  from pg_constraint con
  where con.contype = 'f' and con.conparentid = 0
    and (%(all)s or con.conrelid = any(%(oids)s))
)
select
  fk.conname as foreign_key_name,
  n1.nspname as schema,
  c1.relname as relation,
  fk.conkey::int[] as conkey,
  exists (
    select 1 from pg_constraint u
    where u.conrelid = fk.conrelid and u.contype in ('p', 'u')
      and array(select k from unnest(u.conkey) as k order by k) = fk.conkey
  ) as is_one_to_one,
  n2.nspname as referenced_schema,
  c2.relname as referenced_relation,
  fk.confkey::int[] as confkey,
  quote_ident(n1.nspname) <> n1.nspname as key_schema_quoted,
  n1.nspname as key_schema,
  fk.oid::int8 as oid,
  fk.conrelid::int8 as rel_oid,
  fk.confrelid::int8 as ref_oid
from fks fk
join pg_class c1 on c1.oid = fk.conrelid
join pg_namespace n1 on n1.oid = c1.relnamespace
join pg_class c2 on c2.oid = fk.confrelid
join pg_namespace n2 on n2.oid = c2.relnamespace
where n1.nspname not in ('information_schema', 'pg_catalog')
  and n1.nspname !~ '^pg_toast'
order by fk.oid
