-- The catalog's version, for SchemaHasher: per catalog that a snapshot reads, the row count and
-- the sum of hashes of every row version's (xmin, ctid). Any DDL inserts, updates or deletes
-- rows of at least one of them, which changes that catalog's pair; VACUUM and ANALYZE update
-- statistics in place (same ctid and xmin) and do not. pg_depend is left out: what only it
-- records (sequence ownership, dependencies) is not in a snapshot.
select concat_ws(',',
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_namespace),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_class),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_attribute),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_attrdef),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_constraint),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_index),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_type),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_enum),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_proc),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_description),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_rewrite),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_inherits),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_trigger),
  (select count(*) || ':' || coalesce(sum(hashtext(ctid::text || xmin::text)), 0) from pg_catalog.pg_collation),
  current_setting('server_version_num'),
  current_setting('search_path')
) as version
