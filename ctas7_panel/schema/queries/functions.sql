-- Plain functions (prokind 'f') of the included schemas ($1 text[]). Each argument's type is
-- [typname, schema, relkind of its row relation or '', format_type, oid] in declaration
-- order.
select
  n.nspname as schema,
  p.proname as name,
  coalesce(p.proargnames, '{}') as arg_names,
  coalesce(p.proargmodes::text[], '{}') as arg_modes,
  coalesce(argt.types, '[]'::jsonb) as arg_types,
  p.pronargs as in_count,
  p.pronargdefaults as default_count,
  pg_get_function_arguments(p.oid) as argument_types,
  pg_get_function_identity_arguments(p.oid) as identity_arguments,
  pg_get_function_result(p.oid) as result,
  rt.typname as return_type,
  rtn.nspname as return_type_schema,
  coalesce(rc.relkind::text, '') as return_relkind,
  format_type(p.prorettype, null) as return_display,
  p.proretset as returns_set,
  p.prorows as rows,
  l.lanname as language,
  p.provolatile::text as volatility,
  p.prosecdef as security_definer,
  case when %(details)s then md5(coalesce(p.prosrc, '') || coalesce(p.probin, '')) else '' end
    as definition_md5,
  d.description as comment
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
join pg_type rt on rt.oid = p.prorettype
join pg_namespace rtn on rtn.oid = rt.typnamespace
left join pg_class rc on rc.oid = rt.typrelid
left join pg_description d
  on d.objoid = p.oid and d.classoid = 'pg_proc'::regclass and d.objsubid = 0
left join lateral (
  select jsonb_agg(
    jsonb_build_array(t.typname, tn.nspname, coalesce(tc.relkind::text, ''),
                      format_type(u.oid, null), u.oid::int8)
    order by u.i) as types
  from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality as u(oid, i)
  join pg_type t on t.oid = u.oid
  join pg_namespace tn on tn.oid = t.typnamespace
  left join pg_class tc on tc.oid = t.typrelid
) argt on true
where p.prokind = 'f'
  and n.nspname = any(%(schemas)s)
order by p.oid
