-- sql/src/subjects.sql: tables that hold subject data, and the subject's rights
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.subject_table (
	relid          regclass PRIMARY KEY,
	subject_column name NOT NULL,
	-- the column's type when last checked: a change is checked again
	-- (src/subjects/registry.c: the ledgers' keys must stay canonical for it)
	subject_type   regtype NOT NULL,
	registered_at  timestamptz NOT NULL DEFAULT now(),
	registered_by  name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE @extschema@.subject_table IS
	'registered tables holding subject data, and the column naming the subject';

CREATE FUNCTION @extschema@.register_table(tbl regclass, subject_column name)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_register_table'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.register_table(regclass, name) IS
	'declare that a table holds subject data, keyed by subject_column (the caller must own the table)';

CREATE FUNCTION @extschema@.unregister_table(tbl regclass)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_unregister_table'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.unregister_table(regclass) IS
	'remove a table from the registry of subject tables (the caller must own the table)';

CREATE FUNCTION @extschema@.export_subject(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_export_subject'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.export_subject(text) IS
	'everything held about a subject, with consents, history, purposes, intents and signals; the caller needs SELECT on every registered table, which is read as its owner';

CREATE FUNCTION @extschema@.forget(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_forget'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.forget(text) IS
	'erase a subject from every registered table and from intents, signals and consents, and pseudonymize its consent history; the caller needs DELETE on every registered table, which is erased as its owner';

CREATE FUNCTION @extschema@.subject_pseudonym(subject text)
RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_subject_pseudonym'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.subject_pseudonym(text) IS
	'the keyed pseudonym forget() writes into consent history for this subject';

-- For _on_ddl_end: a subject column's new type must name subjects alike.
CREATE FUNCTION @extschema@._check_subject_type(tbl regclass, typid oid, subject_column text)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_check_subject_type'
	LANGUAGE C STRICT;

-- Keep the registries true to the catalogs: a dropped table leaves them;
-- the subject column of a registered table cannot be dropped; a renamed
-- subject column, or time column of a retention rule, is followed; a
-- subject column whose type changes is checked again.
CREATE FUNCTION @extschema@._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col record;
BEGIN
	SELECT s.relid, s.subject_column INTO col
	  FROM pg_event_trigger_dropped_objects() d
	  JOIN @extschema@.subject_table s
	    ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.objid OPERATOR(pg_catalog.=) s.relid::oid
	   AND d.objsubid OPERATOR(pg_catalog.>) 0
	   AND d.address_names[3] OPERATOR(pg_catalog.=) s.subject_column::text
	 WHERE NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() t
	                    WHERE t.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	                      AND t.objid OPERATOR(pg_catalog.=) s.relid::oid
	                      AND t.objsubid OPERATOR(pg_catalog.=) 0)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot drop column "%" of table %', col.subject_column, col.relid
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = 'It is the subject column of a registered subject table.',
			      HINT = 'Call personalize.unregister_table() first.';
	END IF;
	DELETE FROM @extschema@.subject_table s
	 USING pg_event_trigger_dropped_objects() d
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.objid OPERATOR(pg_catalog.=) s.relid::oid
	   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	IF to_regclass('@extschema@.retention_rule') IS NOT NULL THEN
		DELETE FROM @extschema@.retention_rule r
		 USING pg_event_trigger_dropped_objects() d
		 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
		   AND d.objid OPERATOR(pg_catalog.=) r.relid::oid
		   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	END IF;
	IF to_regclass('@extschema@.consent_view') IS NOT NULL THEN
		DELETE FROM @extschema@.consent_view v
		 USING pg_event_trigger_dropped_objects() d
		 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
		   AND d.objid OPERATOR(pg_catalog.=) v.view::oid
		   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	END IF;
END
$$;
CREATE EVENT TRIGGER personalize_sql_drop ON sql_drop
	EXECUTE FUNCTION @extschema@._on_sql_drop();

-- For _on_ddl_end: the new name of a column a registry names, when the
-- ALTER TABLE being reported renamed it (the old name is gone).
CREATE FUNCTION @extschema@._renamed_column(tbl regclass, old_name name) RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.attname
	  FROM pg_event_trigger_ddl_commands() c
	  JOIN pg_catalog.pg_attribute a
	    ON a.attrelid OPERATOR(pg_catalog.=) c.objid
	   AND a.attnum OPERATOR(pg_catalog.=) c.objsubid
	 WHERE c.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'
	   AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND c.objsubid OPERATOR(pg_catalog.>) 0
	   AND c.objid OPERATOR(pg_catalog.=) tbl::oid
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute x
	                    WHERE x.attrelid OPERATOR(pg_catalog.=) tbl::oid
	                      AND x.attname OPERATOR(pg_catalog.=) old_name
	                      AND NOT x.attisdropped)
	 LIMIT 1
$$;

CREATE FUNCTION @extschema@._on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	-- a renamed subject column, or time column of a retention rule: the
	-- registries name the column's new name
	UPDATE @extschema@.subject_table s
	   SET subject_column = @extschema@._renamed_column(s.relid, s.subject_column)
	 WHERE @extschema@._renamed_column(s.relid, s.subject_column) IS NOT NULL;
	IF to_regclass('@extschema@.retention_rule') IS NOT NULL THEN
		UPDATE @extschema@.retention_rule u
		   SET time_column = @extschema@._renamed_column(u.relid, u.time_column)
		 WHERE @extschema@._renamed_column(u.relid, u.time_column) IS NOT NULL;
	END IF;
	-- a subject column whose type changed: refused unless it still names
	-- subjects alike (an error here undoes the ALTER TABLE)
	FOR r IN
		SELECT s.relid, s.subject_column, a.atttypid
		  FROM @extschema@.subject_table s
		  JOIN pg_catalog.pg_attribute a
		    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::oid
		   AND a.attname OPERATOR(pg_catalog.=) s.subject_column
		 WHERE a.atttypid OPERATOR(pg_catalog.<>) s.subject_type::oid
		   AND s.relid::oid IN (SELECT c.objid FROM pg_event_trigger_ddl_commands() c
		                         WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass)
	LOOP
		PERFORM @extschema@._check_subject_type(r.relid, r.atttypid, r.subject_column);
		UPDATE @extschema@.subject_table s SET subject_type = r.atttypid
		 WHERE s.relid OPERATOR(pg_catalog.=) r.relid;
	END LOOP;
END
$$;
CREATE EVENT TRIGGER personalize_ddl_end ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION @extschema@._on_ddl_end();

REVOKE ALL ON FUNCTION
	@extschema@.register_table(regclass, name),
	@extschema@.unregister_table(regclass),
	@extschema@.export_subject(text),
	@extschema@.forget(text),
	@extschema@.subject_pseudonym(text),
	@extschema@._check_subject_type(regclass, oid, text),
	@extschema@._renamed_column(regclass, name),
	@extschema@._on_sql_drop(),
	@extschema@._on_ddl_end()
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.subject_table', '');
