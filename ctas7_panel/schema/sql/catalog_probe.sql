-- A cheap "has anything in the catalog changed?" probe for the Schema Sync Node.
-- Every DDL inserts, updates or deletes catalog rows, and each new row version has a new
-- (ctid, xmin); a count plus a sum of their hashes per catalog changes with any of them.
-- In-place updates (VACUUM/ANALYZE statistics) keep ctid and xmin, so they do not count.
-- Used only to skip a full introspection when nothing changed since the last one.
SELECT concat_ws(',',
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_namespace),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_class),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_attribute),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_attrdef),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_constraint),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_index),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_type),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_enum),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_proc),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_description),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_rewrite),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_inherits),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_depend),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_collation),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_foreign_table),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_extension),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_policy),
  (SELECT count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) FROM pg_catalog.pg_trigger),
  current_setting('server_version_num'),
  current_setting('search_path')
) AS probe;
