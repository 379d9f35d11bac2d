-- sql/src/worker.sql: the maintenance pass and the background worker
-- (src/worker/)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- The duties of a maintenance pass, in order: run_maintenance() and the
-- background worker both run exactly these (the list is in
-- src/worker/maintenance.c; 'purge' is the retention purge, which the worker runs
-- batch by batch, committing each).
CREATE FUNCTION @extschema@._maintenance_duties()
RETURNS TABLE (duty text, "position" integer, description text)
	AS 'MODULE_PATHNAME', 'personalize_maintenance_duties'
	LANGUAGE C IMMUTABLE;
CREATE VIEW @extschema@.maintenance_duty AS
	SELECT d.duty, d."position", d.description FROM @extschema@._maintenance_duties() d;
COMMENT ON VIEW @extschema@.maintenance_duty IS
	'what each maintenance pass does, in order (run_maintenance() and the background worker)';

CREATE FUNCTION @extschema@.run_maintenance()
RETURNS TABLE (duty text, affected bigint)
	AS 'MODULE_PATHNAME', 'personalize_run_maintenance'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.run_maintenance() IS
	'one maintenance pass, as the background worker makes it: the duties of personalize.maintenance_duty, in order';

-- CREATE EXTENSION tells the background worker, if one runs, that this
-- database now needs a scheduler.
CREATE FUNCTION @extschema@._worker_notify() RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_worker_notify'
	LANGUAGE C;
CREATE FUNCTION @extschema@.worker_status()
RETURNS TABLE (database name, pid integer, state text, last_cycle timestamptz)
	AS 'MODULE_PATHNAME', 'personalize_worker_status'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.worker_status() IS
	'the background worker''s schedulers, one per database (empty without shared_preload_libraries)';

REVOKE ALL ON FUNCTION
	@extschema@.run_maintenance(),
	@extschema@._worker_notify()
FROM PUBLIC;
-- _maintenance_duties() stays executable by PUBLIC: the view needs it, and
-- it tells nothing about any subject.
GRANT SELECT ON @extschema@.maintenance_duty TO PUBLIC;
