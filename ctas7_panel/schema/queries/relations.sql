-- Tables (r), partitioned tables (p), foreign tables (f), views (v), materialized views (m)
-- of the included schemas ($1 text[]), that the current role may see. For views, whether they
-- accept INSERT and UPDATE counting INSTEAD OF triggers and INSTEAD rules (bits 8 and 4 of
-- pg_relation_is_updatable(oid, true)), and whether such a trigger (tgtype: 64 INSTEAD, 4 INSERT,
-- 16 UPDATE) or unconditional INSTEAD rule (ev_type '2' UPDATE, '3' INSERT) makes every column
-- writable.
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
select
  c.oid::int8 as oid,
  n.nspname as schema,
  c.relname as name,
  c.relkind::text as kind,
  case when c.relkind = 'v' then (pg_relation_is_updatable(c.oid, false) & 20) = 20
       else false end as is_updatable,
  case when %(details)s and c.relispartition then (
    select quote_ident(pn.nspname) || '.' || quote_ident(pc.relname)
    from pg_inherits i
    join pg_class pc on pc.oid = i.inhparent
    join pg_namespace pn on pn.oid = pc.relnamespace
    where i.inhrelid = c.oid
    limit 1
  ) end as partition_of,
  case when %(details)s and c.relispartition then pg_get_expr(c.relpartbound, c.oid) end
    as partition_bound,
  case when %(details)s and c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end
    as view_definition,
  d.description as comment,
  c.relrowsecurity as rls_enabled,
  c.relkind = 'v' and (pg_relation_is_updatable(c.oid, true) & 8) = 8 as insert_enabled,
  c.relkind = 'v' and (pg_relation_is_updatable(c.oid, true) & 4) = 4 as update_enabled,
  c.relkind = 'v' and (
    exists (
      select 1 from pg_trigger tg
      where tg.tgrelid = c.oid and tg.tgtype & 64 <> 0 and tg.tgtype & 20 <> 0
        and not tg.tgisinternal
    )
    or exists (
      select 1 from pg_rewrite rw
      where rw.ev_class = c.oid and rw.is_instead and rw.ev_type in ('2', '3')
        and rw.ev_qual::text = '<>'
    )
  ) as instead_writable
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_description d
  on d.objoid = c.oid and d.classoid = 'pg_class'::regclass and d.objsubid = 0
where c.relkind in ('r', 'p', 'f', 'v', 'm')
  and n.nspname = any(%(schemas)s)
  and (
    pg_has_role(c.relowner, 'USAGE')
    or has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
    or has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
  )
  and (%(all)s or c.oid = any(%(oids)s))
order by c.oid
