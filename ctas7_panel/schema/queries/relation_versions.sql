-- The catalog's version per owner, for the incremental snapshot (introspect_incremental), as
-- "items|total|settings": total is "count:sum" over every catalog row, where sum adds hashes of
-- every row version's (ctid, xmin); settings are the server version and search_path; items are
-- "owner:count:sum" per owner, the pg_class oid a row describes (a relation, index, sequence,
-- toast table or composite type: its pg_class row, attributes, defaults, constraints, comments,
-- rules, triggers, inheritance, row type and that row type's array type; an index's pg_index row
-- belongs to its table), or 0 for everything else (schemas, other types, enum labels,
-- functions, collations, domain constraints, other comments). When "total|settings" equals the
-- "previous" parameter, items is "=" (nothing changed: no long answer to send and parse).
-- Any DDL moves the item of every owner whose rows it wrote; VACUUM and ANALYZE update
-- statistics in place and move nothing. Rows of what initdb created (oid below 16384,
-- FirstNormalObjectId) are left out, except schemas (public is 2200) and their comments; so are
-- pg_depend, system columns (attnum < 0: written only with their
-- relation's pg_class row) and internal triggers (written only with their constraint).
with h(owner, h) as (
  select c.oid, hashtext(c.ctid::text || c.xmin::text)
  from pg_catalog.pg_class c where c.oid >= 16384
  union all
  select a.attrelid, hashtext(a.ctid::text || a.xmin::text)
  from pg_catalog.pg_attribute a where a.attrelid >= 16384 and a.attnum > 0
  union all
  select d.adrelid, hashtext(d.ctid::text || d.xmin::text)
  from pg_catalog.pg_attrdef d where d.adrelid >= 16384
  union all
  select con.conrelid, hashtext(con.ctid::text || con.xmin::text)
  from pg_catalog.pg_constraint con where con.oid >= 16384
  union all
  select i.indrelid, hashtext(i.ctid::text || i.xmin::text)
  from pg_catalog.pg_index i where i.indrelid >= 16384
  union all
  select case when d.classoid = 'pg_catalog.pg_class'::regclass then d.objoid else 0 end,
         hashtext(d.ctid::text || d.xmin::text)
  from pg_catalog.pg_description d
  where d.objoid >= 16384 or d.classoid = 'pg_catalog.pg_namespace'::regclass
  union all
  select r.ev_class, hashtext(r.ctid::text || r.xmin::text)
  from pg_catalog.pg_rewrite r where r.ev_class >= 16384
  union all
  select t.tgrelid, hashtext(t.ctid::text || t.xmin::text)
  from pg_catalog.pg_trigger t where t.tgrelid >= 16384 and not t.tgisinternal
  union all
  select i.inhrelid, hashtext(i.ctid::text || i.xmin::text) from pg_catalog.pg_inherits i
  union all
  select case when t.typrelid <> 0 then t.typrelid else coalesce(e.typrelid, 0) end,
         hashtext(t.ctid::text || t.xmin::text)
  from pg_catalog.pg_type t
  left join pg_catalog.pg_type e on t.typelem <> 0 and e.oid = t.typelem and e.typrelid <> 0
  where t.oid >= 16384
  union all
  select 0, hashtext(n.ctid::text || n.xmin::text) from pg_catalog.pg_namespace n
  union all
  select 0, hashtext(e.ctid::text || e.xmin::text) from pg_catalog.pg_enum e
  union all
  select 0, hashtext(p.ctid::text || p.xmin::text) from pg_catalog.pg_proc p where p.oid >= 16384
  union all
  select 0, hashtext(c.ctid::text || c.xmin::text)
  from pg_catalog.pg_collation c where c.oid >= 16384
)
, g as (
  select owner, count(*) as n, sum(h) as s from h group by owner
),
key as (
  select coalesce(sum(g.n), 0) || ':' || coalesce(sum(g.s), 0) || '|'
    || current_setting('server_version_num') || '|' || current_setting('search_path') as k
  from g
)
select case when key.k = %(previous)s then '=' else (
    select coalesce(string_agg(g.owner::text || ':' || g.n || ':' || g.s, ','), '') from g
  ) end || '|' || key.k
from key
