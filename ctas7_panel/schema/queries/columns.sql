-- Columns of the relations of the included schemas (the "schemas" parameter, text[]); the relations query
-- decides which of them the current role may see. "format" is the type name,
-- or its base type's name for a domain (as postgres-meta reports it); "format_schema" is that
-- type's schema. Without details (typegen only) the expensive texts are left out: data_type is
-- '', a default or generation expression is '' (present, not printed), collation and comment null.
select
  a.attrelid::int8 as rel_oid,
  a.attname as name,
  a.attnum as position,
  t.typname as type_name,
  tn.nspname as type_schema,
  coalesce(bt.typname, t.typname) as format,
  case when %(details)s then format_type(a.atttypid, a.atttypmod) else '' end as data_type,
  a.attndims as array_dims,
  not (a.attnotnull or (t.typtype = 'd' and t.typnotnull)) as is_nullable,
  case when a.atthasdef and a.attgenerated = '' then
    case when %(details)s then pg_get_expr(ad.adbin, 0) else '' end end as default_value,
  case a.attidentity when 'a' then 'ALWAYS' when 'd' then 'BY DEFAULT' end as identity,
  case when a.attgenerated <> '' then
    case when %(details)s then pg_get_expr(ad.adbin, ad.adrelid) else '' end end as generated,
  case when c.relkind in ('r', 'p', 'f') then true
       when c.relkind = 'v' then pg_column_is_updatable(c.oid, a.attnum, false)
       else false end as is_updatable,
  case when %(details)s and a.attcollation <> 0 and a.attcollation <> t.typcollation
       then (select collname from pg_collation where oid = a.attcollation) end as collation,
  d.description as comment,
  coalesce(btn.nspname, tn.nspname) as format_schema
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
join pg_namespace tn on tn.oid = t.typnamespace
left join pg_type bt on t.typtype = 'd' and bt.oid = t.typbasetype
left join pg_namespace btn on btn.oid = bt.typnamespace
left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
left join pg_description d
  on d.objoid = c.oid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
where c.relkind in ('r', 'p', 'f', 'v', 'm')
  and n.nspname = any(%(schemas)s)
  and a.attnum > 0
  and not a.attisdropped
