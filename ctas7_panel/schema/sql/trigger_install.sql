-- ctas7 schema install-trigger: tell listeners on channel ctas7_schema about every DDL command.
-- Idempotent (run it again to upgrade); needs a superuser, or Supabase's postgres role.
-- Everything lives in schema ctas7_meta, outside the default type-generation schemas.
CREATE SCHEMA IF NOT EXISTS ctas7_meta;

CREATE OR REPLACE FUNCTION ctas7_meta.notify_schema_change()
RETURNS event_trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
  -- NOTIFY is sent at commit; identical payloads of one transaction are merged by the server.
  PERFORM pg_notify('ctas7_schema', tg_event || ':' || tg_tag);
END
$fn$;

COMMENT ON FUNCTION ctas7_meta.notify_schema_change() IS
  'ctas7-panel: NOTIFY ctas7_schema on DDL (installed by ctas7 schema install-trigger)';

DROP EVENT TRIGGER IF EXISTS ctas7_schema_ddl_end;
CREATE EVENT TRIGGER ctas7_schema_ddl_end ON ddl_command_end
  EXECUTE FUNCTION ctas7_meta.notify_schema_change();

DROP EVENT TRIGGER IF EXISTS ctas7_schema_sql_drop;
CREATE EVENT TRIGGER ctas7_schema_sql_drop ON sql_drop
  EXECUTE FUNCTION ctas7_meta.notify_schema_change();
