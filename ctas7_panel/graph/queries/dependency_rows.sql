-- Dependencies between user objects (pg_depend rows of type normal 'n', auto 'a' or internal
-- 'i' whose both sides are user objects, oid >= 16384). breaking: a normal dependency, which
-- PostgreSQL refuses to drop without CASCADE. Resolved to graph nodes with
-- dependency_nodes.sql.
select
  classid::oid::int8 as classid, objid::int8 as objid, objsubid,
  refclassid::oid::int8 as refclassid, refobjid::int8 as refobjid, refobjsubid,
  deptype = 'n' as breaking
from pg_depend
where deptype in ('n', 'a', 'i')
  and objid >= 16384
  and refobjid >= 16384
