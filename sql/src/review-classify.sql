-- sql/src/review-classify.sql: classification: SECURITY LABEL FOR personalize (src/review/classify.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- none < personal < sensitive < special
CREATE FUNCTION @extschema@._sensitivity_rank(sensitivity text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT array_position(ARRAY['none', 'personal', 'sensitive', 'special'], sensitivity)
$$;

-- Does a purpose allow a column of this category?  It names the category,
-- or an ancestor at least as sensitive; an unclassified column (NULL)
-- follows personalize.unclassified_columns.  The one rule of consent views.
CREATE FUNCTION @extschema@._column_allowed(purpose_id integer, category text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN _column_allowed.category IS NULL THEN
			coalesce(current_setting('personalize.unclassified_columns', true), 'hide') = 'show'
		ELSE EXISTS (
			SELECT 1
			  FROM @extschema@.purpose_category pc
			  JOIN @extschema@.data_category named ON named.name = pc.category
			  JOIN @extschema@.data_category col ON col.name = _column_allowed.category
			 WHERE pc.purpose_id = _column_allowed.purpose_id
			   AND (col.name = named.name OR starts_with(col.name, named.name || '.'))
			   AND @extschema@._sensitivity_rank(named.sensitivity)
			       >= @extschema@._sensitivity_rank(col.sensitivity))
	END
$$;

-- The label provider is registered when the library loads; this trigger
-- loads it before any SECURITY LABEL runs, in any session.
CREATE FUNCTION @extschema@._on_security_label() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'personalize_on_security_label'
	LANGUAGE C;
CREATE EVENT TRIGGER personalize_label_provider ON ddl_command_start
	WHEN TAG IN ('SECURITY LABEL')
	EXECUTE FUNCTION @extschema@._on_security_label();

CREATE FUNCTION @extschema@.classify(tbl regclass, col name, category text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL OR col IS NULL THEN
		RAISE EXCEPTION 'table and column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._require_relation(tbl);
	-- the same statement, checks and privileges as writing the label by hand
	EXECUTE format('SECURITY LABEL FOR personalize ON COLUMN %s.%I IS %L', tbl, col, category);
END
$$;
COMMENT ON FUNCTION @extschema@.classify(regclass, name, text) IS
	'classify a column with a data category (NULL removes the classification); same as SECURITY LABEL FOR personalize';

CREATE VIEW @extschema@.classified_columns AS
	SELECT c.oid::regclass AS table_name, a.attname AS column_name,
	       l.label AS category, d.sensitivity, d.demographic, d.proxy_for
	  FROM pg_catalog.pg_seclabel l
	  JOIN pg_catalog.pg_class c ON c.oid = l.objoid
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid
	  LEFT JOIN @extschema@.data_category d ON d.name = l.label
	 WHERE l.provider = 'personalize'
	   AND l.classoid = 'pg_catalog.pg_class'::regclass
	   AND l.objsubid > 0;
COMMENT ON VIEW @extschema@.classified_columns IS
	'every classified column, with its category and sensitivity';

GRANT SELECT ON @extschema@.classified_columns TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@._column_allowed(integer, text),
	@extschema@._sensitivity_rank(text),
	@extschema@._on_security_label()
FROM PUBLIC;
-- classify() runs as its caller, whose privileges on the table decide.
