-- ctas7 schema install-trigger --uninstall: remove the DDL event triggers and their function.
-- Idempotent; leaves schema ctas7_meta (the migrations use it) in place.
DROP EVENT TRIGGER IF EXISTS ctas7_schema_ddl_end;
DROP EVENT TRIGGER IF EXISTS ctas7_schema_sql_drop;
DROP FUNCTION IF EXISTS ctas7_meta.notify_schema_change();
