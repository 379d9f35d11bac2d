-- personalize--0.2.0--0.3.0.sql: update personalize from 0.2.0 to 0.3.0
--
-- Written by hand; test/sql/upgrade.sql checks that a database updated
-- through it has exactly the objects, privileges and configuration dumps
-- of a fresh 0.3.0 install, and keeps its data.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION personalize UPDATE TO '0.3.0'" to load this file. \quit

--
-- The offer catalog's change log (sql/src/match.sql, src/match_overlay.c)
--

-- the change log holds every change after this version: none before it
ALTER TABLE @extschema@.match_catalog_version ADD COLUMN horizon bigint NOT NULL DEFAULT 0;
UPDATE @extschema@.match_catalog_version SET horizon = version;
COMMENT ON TABLE @extschema@.match_catalog_version IS
	'incremented by every change to the offer catalog; match() brings its index up to date when it differs';

-- The change log: which offers each catalog version changed, so that a
-- change to k offers costs match() work in k, not in the catalog.  A row
-- without offer_id stands for a change to every offer (tags, categories,
-- TRUNCATE, or a statement changing more than 10,000 offers): the index is
-- rebuilt.  Written by the triggers below only; pruned by the maintenance
-- pass (_match_fold) once a newer index covers it.
CREATE TABLE @extschema@.match_catalog_change (
	version   bigint NOT NULL,
	offer_id  text COLLATE "C",
	logged_at timestamptz NOT NULL DEFAULT now()
);
-- src/names.h
CREATE INDEX match_catalog_change_version_idx ON @extschema@.match_catalog_change (version);
COMMENT ON TABLE @extschema@.match_catalog_change IS
	'the offers each catalog version changed (NULL: all of them), read by match() to bring its index up to date';

-- the statement triggers log the offers each statement changed
CREATE OR REPLACE FUNCTION @extschema@._match_catalog_changed() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v bigint;
	n bigint;
BEGIN
	UPDATE @extschema@.match_catalog_version
	   SET version = version OPERATOR(pg_catalog.+) 1, changed_at = pg_catalog.now()
	RETURNING version INTO v;
	IF TG_TABLE_NAME NOT IN ('offers', 'offer_tags') OR TG_OP = 'TRUNCATE' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		SELECT pg_catalog.count(DISTINCT r.offer_id) INTO n FROM new_rows r;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT pg_catalog.count(DISTINCT r.offer_id) INTO n FROM old_rows r;
	ELSE
		SELECT pg_catalog.count(*) INTO n
		  FROM (SELECT r.offer_id FROM new_rows r UNION SELECT r.offer_id FROM old_rows r) x;
	END IF;
	IF n OPERATOR(pg_catalog.>) 10000 THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT DISTINCT v, r.offer_id FROM new_rows r;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT DISTINCT v, r.offer_id FROM old_rows r;
	ELSE
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT v, x.offer_id
		  FROM (SELECT r.offer_id FROM new_rows r UNION SELECT r.offer_id FROM old_rows r) x;
	END IF;
	RETURN NULL;
END
$$;
DROP TRIGGER offers_match_catalog_changed ON @extschema@.offers;
DROP TRIGGER offer_tags_match_catalog_changed ON @extschema@.offer_tags;
-- a trigger with transition tables fires for one event only
CREATE TRIGGER offers_match_catalog_insert
	AFTER INSERT ON @extschema@.offers REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_update
	AFTER UPDATE ON @extschema@.offers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_delete
	AFTER DELETE ON @extschema@.offers REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_truncate
	AFTER TRUNCATE ON @extschema@.offers
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_insert
	AFTER INSERT ON @extschema@.offer_tags REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_update
	AFTER UPDATE ON @extschema@.offer_tags REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_delete
	AFTER DELETE ON @extschema@.offer_tags REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_truncate
	AFTER TRUNCATE ON @extschema@.offer_tags
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
-- The catalog's bookkeeping fires however a change arrives: also for a
-- logical replication subscriber's apply worker and for
-- session_replication_role = replica (pg_restore --disable-triggers), or
-- match() there would answer from a catalog that no longer is.
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_insert;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_update;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_delete;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_truncate;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_insert;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_update;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_delete;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_truncate;
ALTER TABLE @extschema@.tag ENABLE ALWAYS TRIGGER tag_match_catalog_changed;
ALTER TABLE @extschema@.data_category ENABLE ALWAYS TRIGGER data_category_match_catalog_changed;

DROP FUNCTION @extschema@._match_invalidate();

-- The maintenance duty that keeps the change log short: with the shared
-- index, rebuild it once enough offers changed (or the oldest change is
-- five minutes old), then prune the changes it covers; without it, prune
-- changes older than an hour (a session whose index predates them
-- rebuilds it).  Returns the change log rows deleted.
CREATE FUNCTION @extschema@._match_fold() RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_match_fold'
	LANGUAGE C;

REVOKE ALL ON FUNCTION @extschema@._match_fold() FROM PUBLIC;

-- match_cache_info() gains columns: the new function replaces the old one,
-- with the privileges the DBA gave the old one
ALTER FUNCTION @extschema@.match_cache_info() RENAME TO _match_cache_info_0_2_0;
CREATE FUNCTION @extschema@.match_cache_info(
	OUT catalog_version bigint,
	OUT cache_version bigint,
	OUT fresh boolean,
	OUT kept boolean,
	OUT shared boolean,
	OUT offers integer,
	OUT tags integer,
	OUT postings bigint,
	OUT memory_bytes bigint,
	OUT memory_limit_bytes bigint,
	OUT built_at timestamptz,
	OUT build_ms double precision,
	OUT builds bigint,
	OUT base_version bigint,
	OUT overlay_offers integer,
	OUT overlay_bytes bigint,
	OUT shared_version bigint,
	OUT shared_bytes bigint,
	OUT shared_built_at timestamptz,
	OUT shared_build_ms double precision,
	OUT shared_builds bigint,
	OUT shared_memory_limit_bytes bigint,
	OUT blocks_scored bigint,
	OUT blocks_skipped bigint,
	OUT postings_scored bigint,
	OUT postings_skipped bigint)
RETURNS record
	AS 'MODULE_PATHNAME', 'personalize_match_cache_info'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.match_cache_info() IS
	'the offer catalog index this session uses: versions, shared or private, size, build time, the overlay of changed offers, blocks and postings pruning skipped';

SELECT @extschema@._carry_function_privileges(
	'@extschema@._match_cache_info_0_2_0()',
	'@extschema@.match_cache_info()');
DROP FUNCTION @extschema@._match_cache_info_0_2_0();
