-- Every schema a generator may include: not a system schema, and usable by the current role.
select
  n.nspname as name,
  pg_get_userbyid(n.nspowner) as owner,
  d.description as comment
from pg_namespace n
left join pg_description d
  on d.objoid = n.oid and d.classoid = 'pg_namespace'::regclass and d.objsubid = 0
where n.nspname not in ('information_schema', 'pg_catalog', 'pg_toast')
  and n.nspname !~ '^pg_'
  and (pg_has_role(n.nspowner, 'USAGE') or has_schema_privilege(n.oid, 'CREATE, USAGE'))
