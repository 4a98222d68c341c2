-- Columns of the relations of the included schemas (the "schemas" parameter, text[]); the relations query
-- decides which of them the current role may see. "format" is the type name,
-- or its base type's name for a domain (as postgres-meta reports it); "format_schema" is that
-- type's schema. Without details (typegen only) the expensive texts are left out: data_type is
-- '', a default or generation expression is '' (present, not printed), collation and comment
-- null.
-- One JSON array per column (less to build and parse than an object): the relation's oid, then
-- model.Column's fields in order: name, position, type_name, type_schema, format, data_type,
-- array_dims, is_nullable, default, identity, generated, is_updatable, collation, comment,
-- format_schema.
-- The "all" parameter is true, or the relations are limited to the "oids" (incremental reads).
select json_build_array(
  a.attrelid::int8,
  a.attname,
  a.attnum,
  t.typname,
  tn.nspname,
  coalesce(bt.typname, t.typname),
  case when %(details)s then format_type(a.atttypid, a.atttypmod) else '' end,
  a.attndims,
  not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)),
  case when a.atthasdef and a.attgenerated = '' then
      case when %(details)s then pg_get_expr(ad.adbin, 0) else '' end end,
  case a.attidentity when 'a' then 'ALWAYS' when 'd' then 'BY DEFAULT' end,
  case when a.attgenerated <> '' then
      case when %(details)s then pg_get_expr(ad.adbin, ad.adrelid) else '' end end,
  case when c.relkind in ('r', 'p', 'f') then true
         when c.relkind = 'v' then pg_column_is_updatable(c.oid, a.attnum, false)
         else false end,
  case when %(details)s and a.attcollation <> 0 and a.attcollation <> t.typcollation
         then (select collname from pg_collation where oid = a.attcollation) end,
  d.description,
  coalesce(btn.nspname, tn.nspname)
) as r
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_namespace tn on tn.oid = t.typnamespace
left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
left join pg_namespace btn on btn.oid = bt.typnamespace
left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
left join pg_description d
  on %(details)s and d.objoid = c.oid and d.classoid = 'pg_class'::regclass
     and d.objsubid = a.attnum
where c.relkind in ('r', 'p', 'f', 'v', 'm')
  and n.nspname = any(%(schemas)s)
  and a.attnum > 0
  and not a.attisdropped
  and (%(all)s or c.oid = any(%(oids)s))
