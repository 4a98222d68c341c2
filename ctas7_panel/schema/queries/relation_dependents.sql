-- The relations an incremental read must read again when the relations "oids" changed: those
-- relations; the tables of changed indexes; every view or materialized view whose rule reads one
-- of them, and so on through views of views (their definitions, column updatability and
-- relationships follow their sources); and the tables whose foreign keys reference one of them
-- (their constraint definitions and relationships name the referenced columns).
with recursive changed(oid) as (
  select unnest(%(oids)s)
),
viewed(oid) as (
  select oid from changed
  union
  select i.indrelid from pg_catalog.pg_index i join changed ch on i.indexrelid = ch.oid
  union
  select con.conrelid
  from pg_catalog.pg_constraint con join changed ch on con.confrelid = ch.oid
  where con.contype = 'f'
),
closure(oid) as (
  select oid from viewed
  union
  select r.ev_class
  from closure v
  join pg_catalog.pg_depend d
    on d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid = v.oid
       and d.classid = 'pg_catalog.pg_rewrite'::regclass
  join pg_catalog.pg_rewrite r on r.oid = d.objid
)
select oid from closure
