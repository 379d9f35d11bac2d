--
-- NULL arguments: every function of the extension's API, called with NULL
-- in each argument in turn (and plausible values in the others), answers
-- NULL (a strict function), does what NULL documents (purge(NULL): every
-- table), or raises an error that is not about "<NULL>": a null-value
-- error (22004) naming the argument, or the error the other values earn.
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
\set SHOW_CONTEXT never

CREATE TABLE people (person_id bigint, email text, seen timestamptz);
SELECT register_table('people', 'person_id');

-- a plausible value of each argument type
CREATE TEMP TABLE sample (typ regtype PRIMARY KEY, val text);
INSERT INTO sample VALUES
	('text', 'x'), ('name', 'email'), ('regclass', 'people'), ('integer', '1'),
	('bigint', '1'), ('real', '1'), ('double precision', '0.5'), ('boolean', 'true'),
	('timestamp with time zone', 'now()'), ('interval', '1 day'), ('text[]', '{}'),
	('uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), ('date', '2026-01-01'),
	('timestamp without time zone', '2026-01-01'), ('smallint', '1'), ('oid', '1'),
	('monthday', '01-01'), ('"char"', 'g');

CREATE FUNCTION pg_temp.call_with_null(fn regprocedure, nth integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	args text;
BEGIN
	SELECT string_agg(CASE WHEN i = nth THEN format('NULL::%s', format_type(t, NULL))
	                       ELSE format('%L::%s', s.val, format_type(t, NULL)) END, ', ' ORDER BY i)
	  INTO args
	  FROM unnest((SELECT p.proargtypes::oid[] FROM pg_proc p WHERE p.oid = fn)) WITH ORDINALITY AS a(t, i)
	  LEFT JOIN sample s ON s.typ = a.t;
	BEGIN
		EXECUTE format('SELECT %s(%s)', fn::oid::regproc, args);
		RETURN NULL;
	EXCEPTION WHEN OTHERS THEN
		RETURN CASE WHEN SQLERRM LIKE '%<NULL>%' OR SQLERRM LIKE '%""%' THEN SQLSTATE || ': ' || SQLERRM END;
	END;
END $$;

CREATE TEMP TABLE calls AS
SELECT p.oid::regprocedure AS function, n AS argument, pg_temp.call_with_null(p.oid, n) AS bad_message
  FROM pg_proc p CROSS JOIN LATERAL generate_series(1, p.pronargs) n
 WHERE p.pronamespace = 'personalize'::regnamespace
   AND p.prokind = 'f' AND p.proname NOT LIKE '\_%'
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND NOT p.proargtypes::oid[] && ARRAY['internal'::regtype, 'cstring'::regtype]::oid[];
SELECT count(*) > 100 AS many_calls, count(DISTINCT function) > 40 AS many_functions FROM calls;
-- none of them answers about "<NULL>"
SELECT function, argument, bad_message FROM calls WHERE bad_message IS NOT NULL ORDER BY 1, 2;

-- a few in full: the null-value errors say which argument
SELECT grant_consent('x', NULL);
SELECT define_tag('x', NULL);
SELECT define_category('user.x', NULL);
SELECT set_retention('people', 'seen', NULL);
SELECT drop_retention(NULL);
SELECT register_table('people', NULL);

DROP TABLE people;
