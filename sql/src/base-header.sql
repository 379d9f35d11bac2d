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

-- Does a subscription fill this table here?  The publisher then writes it
-- (src/base/extension.c).  0.3.0.
CREATE FUNCTION @extschema@._subscribed(tbl regclass) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_subscribed'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- (called by the catalog's SECURITY DEFINER triggers only)
REVOKE ALL ON FUNCTION @extschema@._applying(), @extschema@._subscribed(regclass) FROM PUBLIC;

-- A subscription that copies the extension's tables into a database that
-- has the extension (FOR ALL TABLES, as a major upgrade by logical
-- replication does it) brings the publisher's built-in rows, which every
-- database of this version has alike: the subscriber keeps its own, and
-- takes the publisher's catalog version over its own one row.  Fired for
-- replication only (ENABLE REPLICA; the triggers: sql/src/base-footer.sql).
-- 0.3.0.
CREATE FUNCTION @extschema@._builtin_applied() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'match_catalog_version' THEN
		UPDATE @extschema@.match_catalog_version v
		   SET version = NEW.version, changed_at = NEW.changed_at, horizon = NEW.horizon;
		IF FOUND THEN
			RETURN NULL;
		END IF;
		RETURN NEW;
	END IF;
	IF NOT NEW.builtin THEN
		RETURN NEW;
	END IF;
	IF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'data_category' THEN
		PERFORM FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) NEW.name;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'purpose' THEN
		PERFORM FROM @extschema@.purpose p
		 WHERE p.purpose_id OPERATOR(pg_catalog.=) NEW.purpose_id AND p.name OPERATOR(pg_catalog.=) NEW.name;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'purpose_category' THEN
		PERFORM FROM @extschema@.purpose_category c
		 WHERE c.purpose_id OPERATOR(pg_catalog.=) NEW.purpose_id AND c.category OPERATOR(pg_catalog.=) NEW.category;
	ELSIF TG_TABLE_NAME OPERATOR(pg_catalog.=) 'personal_data_name' THEN
		PERFORM FROM @extschema@.personal_data_name n WHERE n.pattern OPERATOR(pg_catalog.=) NEW.pattern;
	ELSE
		RETURN NEW;
	END IF;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._builtin_applied() FROM PUBLIC;
