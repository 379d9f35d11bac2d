-- sql/src/base-footer.sql: the end of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- pg_restore -j loads the extension's configuration tables in any order,
-- each in a transaction of its own: every table that references another
-- gets the statement triggers that let a superuser's restore load it
-- before what it references (src/base/extension.c, _restore_references()).
CREATE FUNCTION @extschema@._restore_references() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_restore_references'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._restore_references() FROM PUBLIC;
DO $$
DECLARE
	t regclass;
BEGIN
	FOR t IN
		SELECT DISTINCT c.conrelid::pg_catalog.regclass
		  FROM pg_catalog.pg_constraint c
		 WHERE c.contype OPERATOR(pg_catalog.=) 'f'
		   AND c.connamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
		   AND c.confrelid OPERATOR(pg_catalog.<>) c.conrelid
		 ORDER BY 1
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER restore_references_start BEFORE INSERT ON %s'
		                          ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._restore_references()', t);
		EXECUTE pg_catalog.format('CREATE TRIGGER restore_references_end AFTER INSERT ON %s'
		                          ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._restore_references()', t);
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restore_references_start', t);
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER restore_references_end', t);
	END LOOP;
END
$$;

-- A table a logical replication subscription fills is the publisher's to
-- add to: every table of the extension but the ledgers (whose chain
-- trigger refuses) and the Citus copies refuses a row added there, or a
-- TRUNCATE; the apply worker writes as a replica, which these triggers
-- leave alone (src/base/extension.c).  0.3.0.
CREATE FUNCTION @extschema@._refuse_subscribed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_refuse_subscribed'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._refuse_subscribed() FROM PUBLIC;
DO $$
DECLARE
	t regclass;
BEGIN
	FOR t IN
		SELECT c.oid::pg_catalog.regclass
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
		   AND c.relkind OPERATOR(pg_catalog.=) 'r'
		   AND c.relname NOT IN ('consent_event', 'access_event', 'custody_event', 'purge_event')
		   AND c.relname NOT LIKE '%\_replica'
		 ORDER BY 1
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER refuse_subscribed BEFORE INSERT OR TRUNCATE ON %s'
		                          ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._refuse_subscribed()', t);
	END LOOP;
END
$$;

-- The triggers of _builtin_applied() (sql/src/base-header.sql: a copy of
-- the publisher's built-in rows keeps the subscriber's own); purpose's is
-- made with the table, before its built-in row.  0.3.0.
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['data_category', 'purpose_category', 'personal_data_name',
	                         'match_catalog_version']
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT ON @extschema@.%I'
		                          ' FOR EACH ROW EXECUTE FUNCTION @extschema@._builtin_applied()',
		                          t OPERATOR(pg_catalog.||) '_builtin_applied', t);
		EXECUTE pg_catalog.format('ALTER TABLE @extschema@.%I ENABLE REPLICA TRIGGER %I',
		                          t, t OPERATOR(pg_catalog.||) '_builtin_applied');
	END LOOP;
END
$$;

-- Load the library now: it registers the "personalize" label provider,
-- which a restore needs for the SECURITY LABEL commands that follow
-- CREATE EXTENSION, even where it is not preloaded (a restore creates C
-- functions without loading their library).
LOAD 'MODULE_PATHNAME';

-- Tell the background worker, if it runs, that this database needs a
-- scheduler (a no-op without shared_preload_libraries).
SELECT @extschema@._worker_notify();
