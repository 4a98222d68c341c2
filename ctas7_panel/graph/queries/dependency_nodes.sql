-- Graph nodes of the objects that take part in a dependency (pg_depend 'n', 'a', 'i' between
-- user objects), in the included schemas (%(schemas)s); joined with dependency_rows.sql in
-- Python (one hash join there beats the planner's nested loops on an unanalysed catalog).
-- Each object is resolved to [kind, schema, name, sub]:
--   table/partitioned_table/foreign_table/view/materialized_view  [schema, relation, '']
--   column        [schema, relation, column]   (defaults and generation expressions too)
--   function      [schema, name, identity arguments]
--   type          [schema, name, '']           (enum, domain, composite, range; an array is
--                                               its element type; a relation's row type is
--                                               the relation, with scope 'row')
--   sequence      [schema, name, '']
--   foreign_key / trigger / policy  [schema, relation, constraint/trigger/policy name]
-- A view's rewrite rule is the view. Indexes, other constraints, internal triggers, other
-- rules and members of extensions resolve to nothing (their dependencies are left out).
with dep as (
  select d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid, d.deptype
  from pg_depend d
  where d.deptype in ('n', 'a', 'i')
    and d.objid >= 16384
    and d.refobjid >= 16384
),
obj as (
  select classid, objid, objsubid from dep
  union
  select refclassid, refobjid, refobjsubid from dep
),
ext as (
  select distinct classid, objid from pg_depend where deptype = 'e'
),
own as (
  select o.classid, o.objid, o.objsubid
  from obj o
  left join ext on ext.classid = o.classid and ext.objid = o.objid
  where ext.objid is null
),
rel_kind(relkind, kind) as (
  values ('r', 'table'), ('p', 'partitioned_table'), ('f', 'foreign_table'), ('v', 'view'),
         ('m', 'materialized_view')
),
node as (
  -- relations and their columns, sequences, composite types (their attributes: the type)
  select o.classid, o.objid, o.objsubid,
    case
      when c.relkind = 'S' then 'sequence'
      when c.relkind = 'c' then 'type'
      when o.objsubid > 0 then 'column'
      else rk.kind
    end as kind,
    n.nspname as schema, c.relname as name,
    case when o.objsubid > 0 and c.relkind <> 'c' then a.attname else '' end as sub,
    'object' as scope
  from own o
  join pg_class c on o.classid = 'pg_class'::regclass and c.oid = o.objid
  join pg_namespace n on n.oid = c.relnamespace
  left join rel_kind rk on rk.relkind = c.relkind::text
  left join pg_attribute a
    on a.attrelid = c.oid and a.attnum = o.objsubid and o.objsubid > 0
  where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S', 'c')
    and (o.objsubid = 0 or c.relkind = 'c' or (a.attnum is not null and not a.attisdropped))
  union all
  -- a view's rewrite rule: the view
  select o.classid, o.objid, o.objsubid, rk.kind, n.nspname, c.relname, '', 'object'
  from own o
  join pg_rewrite r on o.classid = 'pg_rewrite'::regclass and r.oid = o.objid
  join pg_class c on c.oid = r.ev_class
  join pg_namespace n on n.oid = c.relnamespace
  join rel_kind rk on rk.relkind = c.relkind::text
  where r.rulename = '_RETURN'
  union all
  select o.classid, o.objid, o.objsubid, 'function', n.nspname, p.proname,
    pg_get_function_identity_arguments(p.oid), 'object'
  from own o
  join pg_proc p on o.classid = 'pg_proc'::regclass and p.oid = o.objid
  join pg_namespace n on n.oid = p.pronamespace
  union all
  -- types: an array is its element type; a relation's row type is the relation ('row')
  select o.classid, o.objid, o.objsubid,
    case when rk.kind is not null then rk.kind else 'type' end,
    coalesce(rn.nspname, n.nspname),
    coalesce(rc.relname, e.typname),
    '',
    case when rk.kind is not null then 'row' else 'object' end
  from own o
  join pg_type t on o.classid = 'pg_type'::regclass and t.oid = o.objid
  join pg_type e
    on e.oid = case when t.typelem <> 0 and t.typlen = -1 then t.typelem else t.oid end
  join pg_namespace n on n.oid = e.typnamespace
  left join pg_class rc on rc.oid = e.typrelid
  left join pg_namespace rn on rn.oid = rc.relnamespace
  left join rel_kind rk on rk.relkind = rc.relkind::text
  union all
  -- column defaults and generation expressions: their column
  select o.classid, o.objid, o.objsubid, 'column', n.nspname, c.relname, a.attname, 'object'
  from own o
  join pg_attrdef ad on o.classid = 'pg_attrdef'::regclass and ad.oid = o.objid
  join pg_class c on c.oid = ad.adrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = ad.adrelid and a.attnum = ad.adnum
  union all
  select o.classid, o.objid, o.objsubid, 'foreign_key', n.nspname, c.relname, con.conname,
    'object'
  from own o
  join pg_constraint con on o.classid = 'pg_constraint'::regclass and con.oid = o.objid
  join pg_class c on c.oid = con.conrelid
  join pg_namespace n on n.oid = c.relnamespace
  where con.contype = 'f' and con.conparentid = 0
  union all
  select o.classid, o.objid, o.objsubid, 'trigger', n.nspname, c.relname, tg.tgname, 'object'
  from own o
  join pg_trigger tg on o.classid = 'pg_trigger'::regclass and tg.oid = o.objid
  join pg_class c on c.oid = tg.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
  where not tg.tgisinternal
  union all
  select o.classid, o.objid, o.objsubid, 'policy', n.nspname, c.relname, pol.polname, 'object'
  from own o
  join pg_policy pol on o.classid = 'pg_policy'::regclass and pol.oid = o.objid
  join pg_class c on c.oid = pol.polrelid
  join pg_namespace n on n.oid = c.relnamespace
)
select classid::oid::int8 as classid, objid::int8 as objid, objsubid, kind, schema, name, sub,
  scope
from node
where schema = any(%(schemas)s)
