-- Domains of the included schemas ($1 text[]).
select
  n.nspname as schema,
  t.typname as name,
  format_type(t.typbasetype, t.typtypmod) as base_type,
  t.typnotnull as not_null,
  t.typdefault as default_value,
  array(
    select pg_get_constraintdef(con.oid)
    from pg_constraint con
    where con.contypid = t.oid and con.contype = 'c'
    order by con.conname
  ) as checks,
  d.description as comment
from pg_type t
join pg_namespace n on n.oid = t.typnamespace
left join pg_description d
  on d.objoid = t.oid and d.classoid = 'pg_type'::regclass and d.objsubid = 0
where t.typtype = 'd'
  and n.nspname = any(%(schemas)s)
