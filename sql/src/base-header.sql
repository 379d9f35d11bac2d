-- sql/src/base-header.sql: the start of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

-- The ledgers live in this schema: whoever owns it, or may create objects
-- in it, could drop them or shadow the extension's functions.  CREATE
-- EXTENSION creates the schema for the installing role; a schema someone
-- else prepared is refused.
DO $$
DECLARE
	nsp record;
	stranger text;
BEGIN
	SELECT n.oid, n.nspowner, n.nspacl INTO nsp
	  FROM pg_catalog.pg_namespace n
	 WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@';
	IF nsp.nspowner OPERATOR(pg_catalog.<>) current_user::pg_catalog.regrole::pg_catalog.oid THEN
		RAISE EXCEPTION 'schema "@extschema@" belongs to role "%", not to the role installing the extension',
			nsp.nspowner::pg_catalog.regrole
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'The extension''s consent ledger lives in this schema; its owner could drop it.',
			      HINT = 'Drop the schema, or have a superuser take it over (ALTER SCHEMA @extschema@ OWNER TO CURRENT_USER), then run CREATE EXTENSION again.';
	END IF;
	SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
	                                           ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END, ', ')
	  INTO stranger
	  FROM pg_catalog.aclexplode(nsp.nspacl) a
	 WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	   AND a.grantee OPERATOR(pg_catalog.<>) nsp.nspowner;
	IF stranger IS NOT NULL THEN
		RAISE EXCEPTION 'other roles may create objects in schema "@extschema@"'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = pg_catalog.format('CREATE is granted to %s.', stranger),
			      HINT = 'Revoke it (REVOKE CREATE ON SCHEMA @extschema@ FROM ...), then run CREATE EXTENSION again.';
	END IF;
	SELECT pg_catalog.string_agg(o.name, ', ') INTO stranger FROM (
		SELECT c.relname::pg_catalog.text AS name FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND c.relowner OPERATOR(pg_catalog.<>) nsp.nspowner
		UNION ALL
		SELECT p.proname::pg_catalog.text FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND p.proowner OPERATOR(pg_catalog.<>) nsp.nspowner
		UNION ALL
		SELECT t.typname::pg_catalog.text FROM pg_catalog.pg_type t
		 WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND t.typowner OPERATOR(pg_catalog.<>) nsp.nspowner) o;
	IF stranger IS NOT NULL THEN
		RAISE EXCEPTION 'schema "@extschema@" holds objects of other roles'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = pg_catalog.format('Objects: %s.', stranger),
			      HINT = 'Move or drop them, then run CREATE EXTENSION again.';
	END IF;
END
$$;

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- Is the text empty, or white space only (tabs, line breaks, no-break and
-- the other Unicode spaces, zero-width characters)?  For the checks of
-- descriptions, value exchanges and agreements (src/base/text.c).  0.3.0.
CREATE FUNCTION @extschema@._blank(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_blank'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The error for a regclass argument that names no relation: 42P01, as
-- the C functions raise it (src/base/extension.c).  0.3.0.
CREATE FUNCTION @extschema@._require_relation(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_require_relation'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Is this a logical replication subscription's worker?  It fires row
-- triggers only, and the triggers that stand in for statement triggers
-- there ask (src/base/extension.c).  0.3.0.
CREATE FUNCTION @extschema@._applying() RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_applying'
	LANGUAGE C STABLE PARALLEL SAFE;
