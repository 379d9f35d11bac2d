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

-- Citus (sql/src/citus.sql)
CREATE TABLE @extschema@.consent_replica (
	subject    text COLLATE "C" NOT NULL,
	purpose_id integer NOT NULL,
	state      "char" NOT NULL,
	expires_at timestamptz,
	-- src/names.h: has_consent() reads it by name, as consent_pkey
	CONSTRAINT consent_replica_pkey PRIMARY KEY (subject, purpose_id)
);
COMMENT ON TABLE @extschema@.consent_replica IS
	'on a Citus cluster, after distribute(): the columns of consent that has_consent() reads, a reference table on every node; written only by triggers on consent';

CREATE TABLE @extschema@.purpose_replica (
	purpose_id   integer NOT NULL,
	name         text NOT NULL,
	parent_id    integer,
	lawful_basis text NOT NULL,
	CONSTRAINT purpose_replica_pkey PRIMARY KEY (purpose_id),
	CONSTRAINT purpose_replica_name_key UNIQUE (name)
);
COMMENT ON TABLE @extschema@.purpose_replica IS
	'on a Citus cluster, after distribute(): the columns of purpose that has_consent() reads, a reference table on every node; written only by triggers on purpose';

-- the copies are read between statements as the tables are (access.sql);
-- on a worker, Citus fires these on the node's shard of the copy
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.consent_replica
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.purpose_replica
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();

-- Statement triggers on consent and purpose, created by distribute().
-- Citus does not read transition tables, so the changed rows reach the
-- reference table as arrays.
CREATE FUNCTION @extschema@._replicate_consent() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	subjects text[];
	purposes integer[];
	states "char"[];
	expiries timestamptz[];
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE @extschema@.consent_replica;
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT array_agg(o.subject), array_agg(o.purpose_id) INTO subjects, purposes
		  FROM old_rows o;
		IF subjects IS NOT NULL THEN
			DELETE FROM @extschema@.consent_replica r
			 USING unnest(subjects, purposes) AS o(subject, purpose_id)
			 WHERE r.subject = o.subject AND r.purpose_id = o.purpose_id;
		END IF;
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		SELECT array_agg(n.subject), array_agg(n.purpose_id), array_agg(n.state), array_agg(n.expires_at)
		  INTO subjects, purposes, states, expiries
		  FROM new_rows n;
		IF subjects IS NOT NULL THEN
			INSERT INTO @extschema@.consent_replica (subject, purpose_id, state, expires_at)
			SELECT * FROM unnest(subjects, purposes, states, expiries);
		END IF;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._replicate_consent() FROM PUBLIC;

CREATE FUNCTION @extschema@._replicate_purpose() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids integer[];
	names text[];
	parents integer[];
	bases text[];
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		TRUNCATE @extschema@.purpose_replica;
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT array_agg(o.purpose_id) INTO ids FROM old_rows o;
		IF ids IS NOT NULL THEN
			DELETE FROM @extschema@.purpose_replica r WHERE r.purpose_id = ANY (ids);
		END IF;
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		SELECT array_agg(n.purpose_id), array_agg(n.name), array_agg(n.parent_id), array_agg(n.lawful_basis)
		  INTO ids, names, parents, bases
		  FROM new_rows n;
		IF ids IS NOT NULL THEN
			INSERT INTO @extschema@.purpose_replica (purpose_id, name, parent_id, lawful_basis)
			SELECT * FROM unnest(ids, names, parents, bases);
		END IF;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._replicate_purpose() FROM PUBLIC;

CREATE FUNCTION @extschema@.distribute()
RETURNS TABLE (replica regclass, source regclass, rows_copied bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pair record;
	n bigint;
	grp integer;
	is_citus_table boolean;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'distribute() needs the citus extension in this database'
			USING ERRCODE = 'feature_not_supported',
			      HINT = 'On a Citus coordinator, run CREATE EXTENSION citus first; without Citus there is nothing to distribute.';
	END IF;
	EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO grp;
	IF grp IS DISTINCT FROM 0 THEN
		RAISE EXCEPTION 'distribute() must run on the Citus coordinator'
			USING ERRCODE = 'feature_not_supported',
			      HINT = 'Connect to the coordinator and call it there.';
	END IF;
	IF NOT pg_has_role((SELECT e.extowner FROM pg_extension e WHERE e.extname = 'personalize'), 'USAGE') THEN
		RAISE EXCEPTION 'permission denied for distribute()'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'Only the owner of the personalize extension or a superuser may distribute its tables.';
	END IF;
	-- no change to consent or purpose between the copy and the triggers
	LOCK TABLE @extschema@.consent, @extschema@.purpose IN SHARE MODE;
	-- the copies carry kept_read_changed, which Citus creates on their shards
	SET LOCAL citus.enable_unsafe_triggers = on;
	FOR pair IN
		SELECT * FROM (VALUES
			('@extschema@.purpose_replica'::regclass, '@extschema@.purpose'::regclass, 1),
			('@extschema@.consent_replica'::regclass, '@extschema@.consent'::regclass, 2)) v(r, s, o)
		 ORDER BY o
	LOOP
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
			INTO STRICT is_citus_table USING pair.r;
		IF NOT is_citus_table THEN
			EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING pair.r;
		END IF;
		EXECUTE format('TRUNCATE %s', pair.r);
		IF pair.s = '@extschema@.consent'::regclass THEN
			INSERT INTO @extschema@.consent_replica (subject, purpose_id, state, expires_at)
			SELECT c.subject, c.purpose_id, c.state, c.expires_at FROM @extschema@.consent c;
		ELSE
			INSERT INTO @extschema@.purpose_replica (purpose_id, name, parent_id, lawful_basis)
			SELECT p.purpose_id, p.name, p.parent_id, p.lawful_basis FROM @extschema@.purpose p;
		END IF;
		GET DIAGNOSTICS n = ROW_COUNT;
		replica := pair.r;
		source := pair.s;
		rows_copied := n;
		RETURN NEXT;
	END LOOP;
	-- keep the copies in step, also for replication's changes
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t
	                WHERE t.tgrelid = '@extschema@.consent'::regclass AND t.tgname = 'consent_replicate_insert') THEN
		CREATE TRIGGER consent_replicate_insert AFTER INSERT ON @extschema@.consent
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_consent();
		CREATE TRIGGER consent_replicate_update AFTER UPDATE ON @extschema@.consent
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_consent();
		CREATE TRIGGER consent_replicate_delete AFTER DELETE ON @extschema@.consent
			REFERENCING OLD TABLE AS old_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_consent();
		CREATE TRIGGER consent_replicate_truncate AFTER TRUNCATE ON @extschema@.consent
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_consent();
		ALTER TABLE @extschema@.consent ENABLE ALWAYS TRIGGER consent_replicate_insert;
		ALTER TABLE @extschema@.consent ENABLE ALWAYS TRIGGER consent_replicate_update;
		ALTER TABLE @extschema@.consent ENABLE ALWAYS TRIGGER consent_replicate_delete;
		ALTER TABLE @extschema@.consent ENABLE ALWAYS TRIGGER consent_replicate_truncate;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger t
	                WHERE t.tgrelid = '@extschema@.purpose'::regclass AND t.tgname = 'purpose_replicate_insert') THEN
		CREATE TRIGGER purpose_replicate_insert AFTER INSERT ON @extschema@.purpose
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_purpose();
		CREATE TRIGGER purpose_replicate_update AFTER UPDATE ON @extschema@.purpose
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_purpose();
		CREATE TRIGGER purpose_replicate_delete AFTER DELETE ON @extschema@.purpose
			REFERENCING OLD TABLE AS old_rows
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_purpose();
		CREATE TRIGGER purpose_replicate_truncate AFTER TRUNCATE ON @extschema@.purpose
			FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._replicate_purpose();
		ALTER TABLE @extschema@.purpose ENABLE ALWAYS TRIGGER purpose_replicate_insert;
		ALTER TABLE @extschema@.purpose ENABLE ALWAYS TRIGGER purpose_replicate_update;
		ALTER TABLE @extschema@.purpose ENABLE ALWAYS TRIGGER purpose_replicate_delete;
		ALTER TABLE @extschema@.purpose ENABLE ALWAYS TRIGGER purpose_replicate_truncate;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.distribute() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.distribute() IS
	'on a Citus coordinator: make consent_replica and purpose_replica reference tables, copy consent and purpose into them and keep them in step, so that has_consent() and may_process() answer on every node; run again to copy afresh';

-- Consent views over Citus tables (sql/src/views.sql)
CREATE FUNCTION @extschema@._consent_view_rows(view text)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'personalize_consent_view_rows'
	LANGUAGE C STABLE STRICT;
