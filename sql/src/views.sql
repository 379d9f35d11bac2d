-- sql/src/views.sql: consent-checked views (src/views/views.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.consent_view (
	view       regclass PRIMARY KEY,
	source     regclass NOT NULL,
	purpose_id integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by name NOT NULL
);
COMMENT ON TABLE @extschema@.consent_view IS
	'views made by create_consent_view(): their source table and purpose';

CREATE FUNCTION @extschema@._view_source_columns(view regclass)
RETURNS TABLE (view_column name, source_attnum smallint)
	AS 'MODULE_PATHNAME', 'personalize_view_source_columns'
	LANGUAGE C STABLE STRICT;

-- NULL if a consent view is still what create_consent_view() made of it,
-- else what changed (for review()).
CREATE FUNCTION @extschema@._consent_view_problem(view regclass, source regclass,
                                                  purpose text, subject_column name)
RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_consent_view_problem'
	LANGUAGE C STABLE STRICT;

-- 0.3.0: a consent view over a Citus table reads its rows through this
-- (src/views/views.c), which checks that the caller may read the view and
-- returns only the view's columns; executable by PUBLIC for that reason.
CREATE FUNCTION @extschema@._consent_view_rows(view text)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'personalize_consent_view_rows'
	LANGUAGE C STABLE STRICT;

CREATE FUNCTION @extschema@.create_consent_view(view_name text, source regclass, purpose text)
RETURNS regclass
	AS 'MODULE_PATHNAME', 'personalize_create_consent_view'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.create_consent_view(text, regclass, text) IS
	'a security-barrier view of a registered table: rows of subjects consenting to the purpose, columns the purpose needs';

CREATE FUNCTION @extschema@.drop_consent_view(view regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF view IS NULL THEN
		RAISE EXCEPTION 'view must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._require_relation(view);
	IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_view v WHERE v.view = drop_consent_view.view) THEN
		RAISE EXCEPTION '"%" is not a consent view', view
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'The consent views are listed in personalize.consent_views.';
	END IF;
	-- as the caller, who must own the view; the sql_drop trigger unregisters it
	EXECUTE format('DROP VIEW %s', view);
END
$$;
COMMENT ON FUNCTION @extschema@.drop_consent_view(regclass) IS
	'drop a consent view made by create_consent_view()';

CREATE VIEW @extschema@.consent_views AS
	SELECT v.view, v.source, p.name AS purpose,
	       ARRAY(SELECT s.view_column FROM @extschema@._view_source_columns(v.view) s) AS columns,
	       ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
	              WHERE a.attrelid = v.source AND a.attnum > 0 AND NOT a.attisdropped
	                AND a.attnum NOT IN (SELECT s.source_attnum
	                                       FROM @extschema@._view_source_columns(v.view) s)
	              ORDER BY a.attnum) AS hidden_columns,
	       v.created_at, v.created_by
	  FROM @extschema@.consent_view v
	  JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consent_views IS
	'consent views, their purpose, the columns they show and the columns of the source they hide';

-- create_consent_view() and drop_consent_view() run as their caller, whose
-- privileges on the table decide; consent_views shows metadata, readable by
-- all (it calls _view_source_columns(), which stays executable by PUBLIC:
-- it reads a view's query tree, which pg_get_viewdef() shows anyway).
GRANT SELECT ON @extschema@.consent_view, @extschema@.consent_views TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@._consent_view_problem(regclass, regclass, text, name)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_view', '');
