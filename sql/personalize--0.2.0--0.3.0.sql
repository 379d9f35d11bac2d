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
ALTER TABLE @extschema@.match_catalog_change REPLICA IDENTITY FULL;
COMMENT ON TABLE @extschema@.match_catalog_change IS
	'the offers each catalog version changed (NULL: all of them), read by match() to bring its index up to date';

-- Does a subscription fill this table here?  The publisher then writes it
-- (src/base/extension.c).  0.3.0.
CREATE FUNCTION @extschema@._subscribed(tbl regclass) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_subscribed'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

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
	-- a subscription that fills the change log too (FOR ALL TABLES) brings
	-- the publisher's entries; its first copy of the catalog fires this
	IF @extschema@._subscribed('@extschema@.match_catalog_change'::pg_catalog.regclass) THEN
		RETURN NULL;
	END IF;
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

-- review(): checks of protected tables' policies and of the privileges the
-- subject rights need (sql/src/review.sql)
-- Check: a protected table's row level security is no longer as protect()
-- made it (src/access.c): disabled, a policy gone, a check no longer
-- restrictive, or, in the all-permissive form protect() uses on Citus, a
-- policy of the table's own beside them, which lets rows through.
CREATE FUNCTION @extschema@._review_protection_changed() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'error', t.relid::text,
	       format('protected table %s: %s', t.relid, w.why),
	       format('Call personalize.unprotect(%L) and personalize.protect(%L) again, and leave the table''s policies to personalize.',
	              t.relid::text, t.relid::text)
	  FROM @extschema@.protected_table t
	  JOIN pg_class c ON c.oid = t.relid
	 CROSS JOIN LATERAL (
		SELECT coalesce(array_agg(p.polname::text) FILTER (WHERE p.polname::text LIKE 'personalize\_%'), '{}') AS ours,
		       coalesce(array_agg(p.polname::text ORDER BY p.polname) FILTER (WHERE p.polname::text NOT LIKE 'personalize\_%'), '{}') AS others,
		       coalesce(bool_and(NOT p.polpermissive)
		                FILTER (WHERE p.polname::text LIKE 'personalize\_access\_%'), false) AS restrictive
		  FROM pg_policy p
		 WHERE p.polrelid = t.relid) p
	 CROSS JOIN LATERAL (
		SELECT CASE
			WHEN NOT c.relrowsecurity THEN 'its row level security is disabled'
			WHEN NOT p.ours @> ARRAY['personalize_access_select', 'personalize_access_update', 'personalize_access_delete']
			THEN 'a policy protect() made is gone'
			WHEN 'personalize_access_insert' = ANY (p.ours) AND cardinality(p.others) > 0
			THEN format('its own policies %s sit beside the permissive ones protect() makes on Citus, and let rows through',
			            array_to_string(p.others, ', '))
			WHEN 'personalize_access_insert' = ANY (p.ours) THEN NULL
			WHEN NOT 'personalize_rows' = ANY (p.ours) THEN 'a policy protect() made is gone'
			WHEN NOT p.restrictive THEN 'a check protect() made is no longer restrictive'
		END AS why) w
	 WHERE w.why IS NOT NULL
$$;
REVOKE ALL ON FUNCTION @extschema@._review_protection_changed() FROM PUBLIC;
-- Check: a role granted forget() or export_subject() lacks a privilege the
-- call needs on a registered table (src/subjects/rights.c): the request of
-- every subject with rows in that table stops there.
CREATE FUNCTION @extschema@._review_rights_blocked() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', s.relid::text,
	       format('role %s may call %s() but lacks %s on registered table %s',
	              g.grantee::regrole, f.name, m.missing, s.relid),
	       format('GRANT %s ON %s TO %s; otherwise %s() stops for every subject with rows in the table.',
	              m.missing, s.relid, g.grantee::regrole, f.name)
	  FROM (VALUES ('forget', '@extschema@.forget(text)'::regprocedure, true),
	               ('export_subject', '@extschema@.export_subject(text)'::regprocedure, false)
	       ) AS f(name, fn, erases)
	  JOIN pg_proc p ON p.oid = f.fn
	 CROSS JOIN LATERAL (SELECT DISTINCT a.grantee FROM aclexplode(p.proacl) a
	                      WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
	                        AND a.grantee <> 0) g
	  JOIN pg_roles r ON r.oid = g.grantee AND NOT r.rolsuper
	 CROSS JOIN @extschema@.subject_table s
	 CROSS JOIN LATERAL (
		SELECT array_to_string(ARRAY[
		           CASE WHEN NOT (has_table_privilege(g.grantee, s.relid, 'SELECT')
		                          OR (f.erases AND has_column_privilege(g.grantee, s.relid, s.subject_column, 'SELECT')))
		                THEN 'SELECT' END,
		           CASE WHEN f.erases AND NOT has_table_privilege(g.grantee, s.relid, 'DELETE')
		                THEN 'DELETE' END], ', ') AS missing) m
	 WHERE m.missing <> ''
$$;
REVOKE ALL ON FUNCTION @extschema@._review_rights_blocked() FROM PUBLIC;
CREATE OR REPLACE FUNCTION @extschema@.review()
RETURNS TABLE (severity text, object text, finding text, hint text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT f.severity, f.object, f.finding, f.hint
	  FROM (SELECT * FROM @extschema@._review_birth_year()
	        UNION ALL SELECT * FROM @extschema@._review_grant_renewed()
	        UNION ALL SELECT * FROM @extschema@._review_grant_unused()
	        UNION ALL SELECT * FROM @extschema@._review_no_retention()
	        UNION ALL SELECT * FROM @extschema@._review_protection_changed()
	        UNION ALL SELECT * FROM @extschema@._review_rights_blocked()
	        UNION ALL SELECT * FROM @extschema@._review_unclassified()
	        UNION ALL SELECT * FROM @extschema@._review_unknown_label()
	        UNION ALL SELECT * FROM @extschema@._review_unneeded_sensitive()
	        UNION ALL SELECT * FROM @extschema@._review_unprotected_sensitive()
	        UNION ALL SELECT * FROM @extschema@._review_view_column_not_allowed()
	        UNION ALL SELECT * FROM @extschema@._review_view_redefined()
	        UNION ALL SELECT * FROM @extschema@._review_view_sensitive()) f
	 ORDER BY array_position(ARRAY['error', 'warning', 'notice'], f.severity),
	          f.object, f.finding
$$;
CREATE OR REPLACE VIEW @extschema@.review_check AS
	SELECT c.check_name, c.check_fn::regprocedure AS check_fn, c.description
	  FROM (VALUES
		('birth_year', '@extschema@._review_birth_year()',
		 'a date of birth is stored with its year'),
		('grant_renewed', '@extschema@._review_grant_renewed()',
		 'a role has had access to a table for a purpose without a break, in three or more grants'),
		('grant_unused', '@extschema@._review_grant_unused()',
		 'an access grant ended without being used'),
		('no_retention', '@extschema@._review_no_retention()',
		 'a registered table has no retention rule'),
		('protection_changed', '@extschema@._review_protection_changed()',
		 'a protected table''s row level security is no longer as protect() made it'),
		('rights_blocked', '@extschema@._review_rights_blocked()',
		 'a role granted forget() or export_subject() lacks a privilege they need on a registered table'),
		('unclassified', '@extschema@._review_unclassified()',
		 'a column whose name or type suggests personal data is not classified'),
		('unknown_label', '@extschema@._review_unknown_label()',
		 'a column is classified with a category that does not exist'),
		('unneeded_sensitive', '@extschema@._review_unneeded_sensitive()',
		 'a sensitive or special column that no purpose needs'),
		('unprotected_sensitive', '@extschema@._review_unprotected_sensitive()',
		 'a registered table with sensitive or special columns is not protected'),
		('view_column_not_allowed', '@extschema@._review_view_column_not_allowed()',
		 'a consent view shows a classified column its purpose does not allow'),
		('view_redefined', '@extschema@._review_view_redefined()',
		 'a consent view no longer checks consent as create_consent_view() made it'),
		('view_sensitive', '@extschema@._review_view_sensitive()',
		 'a consent view shows a sensitive or special column')
	  ) AS c(check_name, check_fn, description);

-- Citus (sql/src/citus.sql)
CREATE TABLE @extschema@.consent_replica (
	subject    text COLLATE "C" NOT NULL,
	purpose_id integer NOT NULL,
	state      "char" NOT NULL,
	expires_at timestamptz,
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

-- A grant names its table and its grantee by name: OIDs differ between nodes.
CREATE TABLE @extschema@.access_grant_replica (
	grant_id    bigint NOT NULL,
	relid       text COLLATE "C" NOT NULL,  -- the table, as regclass prints it
	grantee     text COLLATE "C" NOT NULL,  -- the role, as regrole prints it
	purpose_id  integer NOT NULL,
	valid_from  timestamptz NOT NULL,
	valid_until timestamptz NOT NULL,
	ended_at    timestamptz,
	CONSTRAINT access_grant_replica_pkey PRIMARY KEY (grant_id)
);
CREATE INDEX access_grant_replica_window_idx
	ON @extschema@.access_grant_replica (relid, valid_until);
COMMENT ON TABLE @extschema@.access_grant_replica IS
	'on a Citus cluster, after distribute(): the columns of access_grant that has_access() reads, tables and roles by name, a reference table on every node; written only by triggers on access_grant';

CREATE TABLE @extschema@.offers_replica (
	offer_id  text COLLATE "C" NOT NULL,
	priority  integer NOT NULL,
	starts_at timestamptz,
	ends_at   timestamptz,
	enabled   boolean NOT NULL,
	CONSTRAINT offers_replica_pkey PRIMARY KEY (offer_id)
);
COMMENT ON TABLE @extschema@.offers_replica IS
	'on a Citus cluster, after distribute(): the columns of offers that match() reads, a reference table on every node; written only by triggers on offers';

CREATE TABLE @extschema@.offer_tags_replica (
	offer_id text COLLATE "C" NOT NULL,
	tag      text NOT NULL,
	weight   real NOT NULL,
	CONSTRAINT offer_tags_replica_pkey PRIMARY KEY (offer_id, tag)
);
COMMENT ON TABLE @extschema@.offer_tags_replica IS
	'on a Citus cluster, after distribute(): offer_tags as match() reads it, a reference table on every node; written only by triggers on offer_tags';

CREATE TABLE @extschema@.tag_replica (
	tag         text NOT NULL,
	category    text NOT NULL,
	description text,
	CONSTRAINT tag_replica_pkey PRIMARY KEY (tag)
);
COMMENT ON TABLE @extschema@.tag_replica IS
	'on a Citus cluster, after distribute(): the columns of tag that match() reads, a reference table on every node; written only by triggers on tag';

CREATE TABLE @extschema@.data_category_replica (
	name        text NOT NULL,
	sensitivity text NOT NULL,
	demographic boolean NOT NULL,
	proxy_for   text,
	CONSTRAINT data_category_replica_pkey PRIMARY KEY (name)
);
COMMENT ON TABLE @extschema@.data_category_replica IS
	'on a Citus cluster, after distribute(): the columns of data_category that match() reads, a reference table on every node; written only by triggers on data_category';

CREATE TABLE @extschema@.intent_replica (
	subject text COLLATE "C" NOT NULL,
	tag     text NOT NULL,
	weight  real NOT NULL,
	CONSTRAINT intent_replica_pkey PRIMARY KEY (subject, tag)
);
COMMENT ON TABLE @extschema@.intent_replica IS
	'on a Citus cluster, after distribute(): the columns of intent that match() reads, a reference table on every node (empty after distribute(colocate_with => ...)); written only by the extension';

CREATE TABLE @extschema@.signal_replica (
	signal_id bigint NOT NULL,
	subject   text COLLATE "C" NOT NULL,
	tag       text NOT NULL,
	kind      text NOT NULL,
	weight    real NOT NULL,
	at        timestamptz NOT NULL,
	offer_id  text COLLATE "C",
	CONSTRAINT signal_replica_pkey PRIMARY KEY (signal_id)
);
CREATE INDEX signal_replica_subject_idx ON @extschema@.signal_replica (subject, tag);
COMMENT ON TABLE @extschema@.signal_replica IS
	'on a Citus cluster, after distribute(): signal as match() reads it, a reference table on every node (empty after distribute(colocate_with => ...)); written only by the extension';

-- After distribute(colocate_with => ...): the changes to intents and
-- signals on their way to the distributed copies, in the order they were
-- made.  A writer adds its rows here, on the coordinator, and the
-- scheduler ships them after its commit (_ship_copies()): a Citus write
-- in the writer's transaction would cost a distributed transaction per
-- event, and would meet the application's own writes to the colocated
-- shards under another role, which Citus refuses.
CREATE TABLE @extschema@.copy_outbox (
	seq  bigint GENERATED ALWAYS AS IDENTITY,
	copy regclass NOT NULL,
	-- '+' a row to add (its new version), '-' a row to remove, '!' the copy emptied
	op   "char" NOT NULL CONSTRAINT copy_outbox_op_check CHECK (op IN ('+', '-', '!')),
	row  jsonb,
	CONSTRAINT copy_outbox_pkey PRIMARY KEY (seq)
);
COMMENT ON TABLE @extschema@.copy_outbox IS
	'on a Citus cluster, after distribute(colocate_with => ...): changes to intents and signals not yet shipped to their distributed copies; written only by the extension';

CREATE TABLE @extschema@.match_catalog_version_replica (
	only_row boolean NOT NULL,
	version  bigint NOT NULL,
	horizon  bigint NOT NULL,
	CONSTRAINT match_catalog_version_replica_pkey PRIMARY KEY (only_row)
);
COMMENT ON TABLE @extschema@.match_catalog_version_replica IS
	'on a Citus cluster, after distribute(): match_catalog_version on every node, so that match() there sees the catalog its snapshot sees; written only by triggers';

CREATE TABLE @extschema@.match_catalog_change_replica (
	version  bigint NOT NULL,
	offer_id text COLLATE "C"
);
CREATE INDEX match_catalog_change_replica_version_idx
	ON @extschema@.match_catalog_change_replica (version);
ALTER TABLE @extschema@.match_catalog_change_replica REPLICA IDENTITY FULL;
COMMENT ON TABLE @extschema@.match_catalog_change_replica IS
	'on a Citus cluster, after distribute(): match_catalog_change on every node; written only by triggers';

-- the consent and grant copies are read between statements as the tables
-- are (privilege.sql); on a worker, Citus fires these on the node's shard
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.consent_replica
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.purpose_replica
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.access_grant_replica
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();

-- The statement triggers distribute() creates on each table copied:
-- _replicate('<copy>', <key column>...).  Citus does not read transition
-- tables, so the changed rows reach the reference table as one jsonb
-- value; the copy takes the columns it has, by name.  An UPDATE that keeps
-- the set of keys updates the copy's rows by primary key in one statement;
-- one that changes a key deletes the old rows' keys and inserts the new
-- rows.
CREATE FUNCTION @extschema@._replicate() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET personalize.writing_copies = on
AS $$
DECLARE
	copy regclass := TG_ARGV[0]::regclass;
	keys text[] := TG_ARGV[1:TG_NARGS - 1];
	cond text;
	sets text;
	keys_kept boolean := false;
	changed jsonb;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		EXECUTE format('TRUNCATE %s', copy);
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT string_agg(format(CASE WHEN a.attnotnull THEN 'r.%1$I = o.%1$I'
		                              ELSE 'r.%1$I IS NOT DISTINCT FROM o.%1$I' END,
		                         a.attname), ' AND ')
		  INTO STRICT cond
		  FROM pg_attribute a
		 WHERE a.attrelid = copy AND a.attname = ANY (keys) AND NOT a.attisdropped;
	END IF;
	IF TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = copy AND i.indisprimary) THEN
		-- the transition tables are read here, on this node
		EXECUTE format('SELECT NOT EXISTS (SELECT %1$s FROM old_rows EXCEPT SELECT %1$s FROM new_rows)',
		               (SELECT string_agg(quote_ident(k), ', ') FROM unnest(keys) k))
		  INTO keys_kept;
	END IF;
	IF keys_kept THEN
		SELECT jsonb_agg(to_jsonb(n)) INTO changed FROM new_rows n;
		SELECT string_agg(format('%1$I = o.%1$I', a.attname), ', ')
		  INTO sets
		  FROM pg_attribute a
		 WHERE a.attrelid = copy AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attname <> ALL (keys);
		IF changed IS NOT NULL AND sets IS NOT NULL THEN
			EXECUTE format('UPDATE %s r SET %s FROM jsonb_populate_recordset(NULL::%s, $1) o WHERE %s',
			               copy, sets, copy, cond)
			  USING changed;
		END IF;
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		SELECT jsonb_agg(to_jsonb(o)) INTO changed FROM old_rows o;
		IF changed IS NOT NULL THEN
			EXECUTE format('DELETE FROM %s r USING jsonb_populate_recordset(NULL::%s, $1) o WHERE %s',
			               copy, copy, cond)
			  USING changed;
		END IF;
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		SELECT jsonb_agg(to_jsonb(n)) INTO changed FROM new_rows n;
		IF changed IS NOT NULL THEN
			EXECUTE format('INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1)',
			               copy, copy)
			  USING changed;
		END IF;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._replicate() FROM PUBLIC;

-- The statement triggers distribute() creates on intent and signal when it
-- places their copies with a table of the application:
-- _outbox('<copy>').  The changed rows go to copy_outbox, on the
-- coordinator, in the writer's transaction; the scheduler ships them
-- after the commit.  A subject that cannot be a key of the table the
-- copies are placed with is refused here, with the writer's statement.
CREATE FUNCTION @extschema@._outbox() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET personalize.writing_copies = on
AS $$
DECLARE
	copy regclass := TG_ARGV[0]::regclass;
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		INSERT INTO @extschema@.copy_outbox (copy, op) VALUES (copy, '!');
	END IF;
	IF TG_OP = 'DELETE' THEN
		INSERT INTO @extschema@.copy_outbox (copy, op, row)
		SELECT copy, '-', to_jsonb(o) FROM old_rows o;
	-- an updated row whose keys stay is replaced by its '+' (state_intent()'s
	-- upsert); one whose keys changed is removed under its old keys
	ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'intent' THEN
		INSERT INTO @extschema@.copy_outbox (copy, op, row)
		SELECT copy, '-', to_jsonb(o) FROM old_rows o
		 WHERE NOT EXISTS (SELECT FROM new_rows n WHERE n.subject = o.subject AND n.tag = o.tag);
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO @extschema@.copy_outbox (copy, op, row)
		SELECT copy, '-', to_jsonb(o) FROM old_rows o
		 WHERE NOT EXISTS (SELECT FROM new_rows n WHERE n.signal_id = o.signal_id);
	END IF;
	IF TG_OP IN ('UPDATE', 'INSERT') THEN
		INSERT INTO @extschema@.copy_outbox (copy, op, row)
		SELECT copy, '+', to_jsonb(n) || jsonb_build_object('subject_key', @extschema@._subject_key(copy, n.subject))
		  FROM new_rows n;
	END IF;
	PERFORM @extschema@._ship_soon();
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._outbox() FROM PUBLIC;

-- The subject, if it can be a key of the copy's subject_key column (of the
-- type of the table distribute() placed the copy with); an error otherwise.
CREATE FUNCTION @extschema@._subject_key(copy regclass, subject text) RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_subject_key'
	LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION @extschema@._subject_key(regclass, text) FROM PUBLIC;

-- Can subject be a key of type keytype?
CREATE FUNCTION @extschema@._subject_key_parses(subject text, keytype regtype) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_subject_key_parses'
	LANGUAGE C IMMUTABLE STRICT;
REVOKE ALL ON FUNCTION @extschema@._subject_key_parses(text, regtype) FROM PUBLIC;

-- At the commit of this transaction, wake this database's scheduler to
-- ship copy_outbox (nothing without the library preloaded).
CREATE FUNCTION @extschema@._ship_soon() RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_ship_soon'
	LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@._ship_soon() FROM PUBLIC;

-- The maintenance duty "ship_copies" (the scheduler runs it after each
-- commit that wrote copy_outbox, and in every pass): the committed changes
-- in copy_outbox to the distributed copies, in one transaction, oldest
-- first, in chunks.  Of a chunk only each row's last change counts (a
-- signup that states ten intents and changes one is one row per intent):
-- per copy, one DELETE of the rows changed and one INSERT of their new
-- versions, or a TRUNCATE first when the copy was emptied.
CREATE FUNCTION @extschema@._ship_copies() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET personalize.writing_copies = on
AS $$
DECLARE
	taken jsonb;
	c record;
	keys text[];
	cond text;
	emptied bigint;
	touched jsonb;
	added jsonb;
	n bigint;
	shipped bigint := 0;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM @extschema@.copy_outbox) THEN
		RETURN 0;
	END IF;
	-- one shipper at a time; writers (ROW EXCLUSIVE) go on
	LOCK TABLE @extschema@.copy_outbox IN SHARE UPDATE EXCLUSIVE MODE;
	LOOP
		WITH t AS (
			DELETE FROM @extschema@.copy_outbox
			 WHERE seq IN (SELECT o.seq FROM @extschema@.copy_outbox o ORDER BY o.seq LIMIT 10000)
			RETURNING seq, copy, op, row
		)
		SELECT jsonb_agg(jsonb_build_object('seq', t.seq, 'copy', t.copy::text, 'op', t.op, 'row', t.row)),
		       count(*)
		  INTO taken, n
		  FROM t;
		EXIT WHEN n = 0;
		shipped := shipped + n;
		FOR c IN SELECT DISTINCT (x->>'copy')::regclass AS copy FROM jsonb_array_elements(taken) x LOOP
			-- the copy's keys, but for subject_key
			SELECT array_agg(a.attname::text), string_agg(format('r.%1$I = o.%1$I', a.attname), ' AND ')
			  INTO STRICT keys, cond
			  FROM pg_index i
			  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			 WHERE i.indrelid = c.copy AND i.indisprimary AND a.attname <> 'subject_key';
			SELECT max((x->>'seq')::bigint) INTO emptied
			  FROM jsonb_array_elements(taken) x
			 WHERE (x->>'copy')::regclass = c.copy AND x->>'op' = '!';
			IF emptied IS NOT NULL THEN
				EXECUTE format('TRUNCATE %s', c.copy);
			END IF;
			SELECT jsonb_agg(l.row), jsonb_agg(l.row) FILTER (WHERE l.op = '+')
			  INTO touched, added
			  FROM (SELECT DISTINCT ON (k.k) x->>'op' AS op, x->'row' AS row
			          FROM jsonb_array_elements(taken) x,
			               LATERAL (SELECT jsonb_object_agg(key, x->'row'->key) FROM unnest(keys) key) AS k(k)
			         WHERE (x->>'copy')::regclass = c.copy AND x->>'op' <> '!'
			           AND (x->>'seq')::bigint > coalesce(emptied, 0)
			         ORDER BY k.k, (x->>'seq')::bigint DESC) l;
			IF touched IS NOT NULL AND emptied IS NULL THEN
				EXECUTE format('DELETE FROM %s r USING jsonb_populate_recordset(NULL::%s, $1) o WHERE %s',
				               c.copy, c.copy, cond)
				  USING touched;
			END IF;
			IF added IS NOT NULL THEN
				EXECUTE format('INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1)',
				               c.copy, c.copy)
				  USING added;
			END IF;
		END LOOP;
	END LOOP;
	RETURN shipped;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._ship_copies() FROM PUBLIC;

-- distribute()'s statement triggers on a copied table: <table>_replicate_<op>
-- for each op, executing call (a function and its arguments), made anew
-- when they call something else.  ENABLE ALWAYS: also for the changes of
-- logical replication.
CREATE FUNCTION @extschema@._copy_triggers(source regclass, call text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	op text;
	name text;
BEGIN
	FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
		name := (SELECT c.relname FROM pg_class c WHERE c.oid = source) || '_replicate_' || op;
		IF EXISTS (SELECT 1 FROM pg_trigger t
		            WHERE t.tgrelid = source AND t.tgname = name
		              AND pg_get_triggerdef(t.oid) LIKE '%EXECUTE FUNCTION ' || call) THEN
			CONTINUE;
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = source AND t.tgname = name) THEN
			EXECUTE format('DROP TRIGGER %I ON %s', name, source);
		END IF;
		EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %s',
		               name, upper(op), source,
		               CASE op WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
		                       WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
		                       WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
		                       ELSE '' END,
		               call);
		EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', source, name);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._copy_triggers(regclass, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.distribute(colocate_with regclass DEFAULT NULL)
RETURNS TABLE (replica regclass, source regclass, rows_copied bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET personalize.writing_copies = on
AS $$
DECLARE
	pair record;
	cols text;
	n bigint;
	grp integer;
	current_method "char";
	key_decl text;
	-- where the copies of intents and signals go: with colocate_with, by
	-- the subject as a key of its type; else reference tables
	key_type regtype;
	key_collation oid;
	key_column name;
	method "char";
	bad text;
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
	-- the copies' guards and the renames' follow-up are hooks of the
	-- library (src/base/copies.c), which must be in every backend
	IF NOT EXISTS (SELECT 1 FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ',')) l
	                WHERE btrim(l, ' "') IN ('personalize', '$libdir/personalize')) THEN
		RAISE EXCEPTION 'distribute() needs personalize in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'On Citus, the library keeps the copies written only by the extension and their names in step with renamed tables and roles, in every backend.',
			      HINT = 'Add personalize to shared_preload_libraries on every node (after citus), restart, and call distribute() again.';
	END IF;
	IF colocate_with IS NOT NULL THEN
		EXECUTE 'SELECT p.partmethod, pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
		           FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1'
		   INTO method, key_column USING colocate_with;
		IF method IS DISTINCT FROM 'h' THEN
			RAISE EXCEPTION 'distribute() can place intents and signals only with a hash-distributed table'
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('Table %s is %s.', colocate_with,
				                      CASE WHEN method IS NULL THEN 'not a Citus table'
				                           WHEN method = 'n' THEN 'a reference table or a Citus local table'
				                           ELSE 'not distributed by hash' END),
				      HINT = 'Name the table of customers, distributed by its customer key (create_distributed_table()), or call distribute() without colocate_with.';
		END IF;
		SELECT a.atttypid::regtype, a.attcollation INTO STRICT key_type, key_collation
		  FROM pg_attribute a
		 WHERE a.attrelid = colocate_with AND a.attname = key_column;
		IF key_type NOT IN ('bigint'::regtype, 'integer'::regtype, 'text'::regtype, 'uuid'::regtype) THEN
			RAISE NOTICE 'intents and signals stay in reference tables: the key of table % is of type %', colocate_with, key_type
				USING DETAIL = 'They are placed only with a table distributed by a bigint, integer, text or uuid key.';
			key_type := NULL;
		END IF;
	END IF;
	-- no change to a copied table between its copy and its triggers
	LOCK TABLE @extschema@.purpose, @extschema@.consent, @extschema@.access_grant,
	           @extschema@.data_category,
	           @extschema@.tag, @extschema@.offers, @extschema@.offer_tags,
	           @extschema@.match_catalog_version, @extschema@.match_catalog_change,
	           @extschema@.intent, @extschema@.signal
	  IN SHARE MODE;
	IF key_type IS NOT NULL THEN
		SELECT s INTO bad
		  FROM (SELECT subject FROM @extschema@.intent UNION ALL SELECT subject FROM @extschema@.signal) AS x(s)
		 WHERE NOT @extschema@._subject_key_parses(s, key_type)
		 LIMIT 1;
		IF bad IS NOT NULL THEN
			RAISE EXCEPTION 'cannot place intents and signals with table %: subject "%" is not a valid % key', colocate_with, bad, key_type
				USING ERRCODE = 'invalid_text_representation',
				      DETAIL = format('With colocate_with, each subject''s intents and signals are stored in the shard of table %s that holds the subject''s key.', colocate_with),
				      HINT = 'Correct or forget() the subjects that are not keys of that table, or call distribute() without colocate_with to keep intents and signals in reference tables.';
		END IF;
	END IF;
	-- the changes waiting for the copies are in what is copied now
	LOCK TABLE @extschema@.copy_outbox IN ACCESS EXCLUSIVE MODE;
	TRUNCATE @extschema@.copy_outbox;
	-- the consent and grant copies carry kept_read_changed, which Citus creates on their shards
	SET LOCAL citus.enable_unsafe_triggers = on;
	FOR pair IN
		SELECT v.r, v.s, v.k, v.per_subject FROM (VALUES
			(1, '@extschema@.purpose_replica'::regclass, '@extschema@.purpose'::regclass,
			 ARRAY['purpose_id'], false),
			(2, '@extschema@.consent_replica'::regclass, '@extschema@.consent'::regclass,
			 ARRAY['subject', 'purpose_id'], false),
			(3, '@extschema@.access_grant_replica'::regclass, '@extschema@.access_grant'::regclass,
			 ARRAY['grant_id'], false),
			(4, '@extschema@.data_category_replica'::regclass, '@extschema@.data_category'::regclass,
			 ARRAY['name'], false),
			(5, '@extschema@.tag_replica'::regclass, '@extschema@.tag'::regclass,
			 ARRAY['tag'], false),
			(6, '@extschema@.offers_replica'::regclass, '@extschema@.offers'::regclass,
			 ARRAY['offer_id'], false),
			(7, '@extschema@.offer_tags_replica'::regclass, '@extschema@.offer_tags'::regclass,
			 ARRAY['offer_id', 'tag'], false),
			(8, '@extschema@.match_catalog_version_replica'::regclass, '@extschema@.match_catalog_version'::regclass,
			 ARRAY['only_row'], false),
			(9, '@extschema@.match_catalog_change_replica'::regclass, '@extschema@.match_catalog_change'::regclass,
			 ARRAY['version', 'offer_id'], false),
			(10, '@extschema@.intent_replica'::regclass, '@extschema@.intent'::regclass,
			 ARRAY['subject', 'tag'], true),
			(11, '@extschema@.signal_replica'::regclass, '@extschema@.signal'::regclass,
			 ARRAY['signal_id'], true)) v(o, r, s, k, per_subject)
		 ORDER BY v.o
	LOOP
		EXECUTE 'SELECT partmethod FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1'
			INTO current_method USING pair.r;
		IF current_method IS NULL THEN
			PERFORM pg_catalog.create_reference_table(pair.r);
		END IF;
		EXECUTE format('TRUNCATE %s', pair.r);
		-- intents and signals placed with colocate_with: below
		IF pair.per_subject AND key_type IS NOT NULL THEN
			CONTINUE;
		END IF;
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO STRICT cols
		  FROM pg_attribute a
		 WHERE a.attrelid = pair.r AND a.attnum > 0 AND NOT a.attisdropped;
		EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', pair.r, cols, cols, pair.s);
		GET DIAGNOSTICS n = ROW_COUNT;
		-- keep the copy in step, also for replication's changes
		PERFORM @extschema@._copy_triggers(pair.s, format('@extschema@._replicate(%L, %s)', pair.r,
		                                   (SELECT string_agg(quote_literal(k), ', ') FROM unnest(pair.k) k)));
		replica := pair.r;
		source := pair.s;
		rows_copied := n;
		RETURN NEXT;
	END LOOP;

	-- Intents and signals placed with colocate_with: tables of their own,
	-- made here, distributed by subject_key of the key's type and collation
	-- (Citus colocates only those), outside the extension, so that Citus
	-- creates them on every node, also on a node added later.  They are
	-- made afresh each time, as is every copy.
	IF to_regclass('@extschema@.intent_by_subject') IS NOT NULL THEN
		DROP TABLE @extschema@.intent_by_subject;
	END IF;
	IF to_regclass('@extschema@.signal_by_subject') IS NOT NULL THEN
		DROP TABLE @extschema@.signal_by_subject;
	END IF;
	IF key_type IS NULL THEN
		RETURN;
	END IF;
	key_decl := format('%s %s NOT NULL', key_type,
	                   CASE WHEN key_type = 'text'::regtype
	                        THEN 'COLLATE ' || key_collation::regcollation::text ELSE '' END);
	EXECUTE format('CREATE TABLE @extschema@.intent_by_subject (
	                    subject     text COLLATE "C" NOT NULL,
	                    tag         text NOT NULL,
	                    weight      real NOT NULL,
	                    subject_key %s,
	                    CONSTRAINT intent_by_subject_pkey PRIMARY KEY (subject, tag, subject_key))', key_decl);
	EXECUTE format('CREATE TABLE @extschema@.signal_by_subject (
	                    signal_id   bigint NOT NULL,
	                    subject     text COLLATE "C" NOT NULL,
	                    tag         text NOT NULL,
	                    kind        text NOT NULL,
	                    weight      real NOT NULL,
	                    at          timestamptz NOT NULL,
	                    offer_id    text COLLATE "C",
	                    subject_key %s,
	                    CONSTRAINT signal_by_subject_pkey PRIMARY KEY (signal_id, subject_key))', key_decl);
	CREATE INDEX signal_by_subject_subject_idx ON @extschema@.signal_by_subject (subject, tag);
	COMMENT ON TABLE @extschema@.intent_by_subject IS
		'on a Citus cluster, after distribute(colocate_with => ...): the columns of intent that match() reads, distributed by subject with that table; written only by the extension, after each commit';
	COMMENT ON TABLE @extschema@.signal_by_subject IS
		'on a Citus cluster, after distribute(colocate_with => ...): signal as match() reads it, distributed by subject with that table; written only by the extension, after each commit';
	FOR pair IN
		SELECT v.r, v.s FROM (VALUES
			(1, '@extschema@.intent_by_subject'::regclass, '@extschema@.intent'::regclass),
			(2, '@extschema@.signal_by_subject'::regclass, '@extschema@.signal'::regclass)) v(o, r, s)
		 ORDER BY v.o
	LOOP
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', pair.r);
		EXECUTE format('ALTER TABLE %s OWNER TO %I', pair.r,
		               (SELECT e.extowner::regrole::text FROM pg_extension e WHERE e.extname = 'personalize'));
		PERFORM pg_catalog.create_distributed_table(pair.r, 'subject_key', colocate_with => colocate_with::text);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
		       string_agg(CASE WHEN a.attname = 'subject_key' THEN format('subject::%s', key_type)
		                       ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum)
		  INTO STRICT cols, key_decl
		  FROM pg_attribute a
		 WHERE a.attrelid = pair.r AND a.attnum > 0 AND NOT a.attisdropped;
		EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', pair.r, cols, key_decl, pair.s);
		GET DIAGNOSTICS n = ROW_COUNT;
		-- the changes after this one go through copy_outbox
		PERFORM @extschema@._copy_triggers(pair.s, format('@extschema@._outbox(%L)', pair.r));
		replica := pair.r;
		source := pair.s;
		rows_copied := n;
		RETURN NEXT;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.distribute(regclass) FROM PUBLIC;

-- After a statement that renamed or dropped a table, a schema or a role
-- (src/base/copies.c calls it, on a coordinator whose copies are
-- distributed): the copy of the grants names each table and grantee as
-- the grant's OIDs print now, so that on every node a renamed table or
-- role keeps its grants and a new one under the old name has none.  A
-- dropped one prints as its number, which names nothing.  The copy is read
-- first (a reference table), then only the changed rows written.
CREATE FUNCTION @extschema@._copy_names_refresh() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET personalize.writing_copies = on
AS $$
DECLARE
	copied jsonb;
	changed jsonb;
BEGIN
	-- no grant, nothing to name (and no statement through Citus)
	IF NOT EXISTS (SELECT 1 FROM @extschema@.access_grant) THEN
		RETURN;
	END IF;
	SELECT jsonb_agg(jsonb_build_object('grant_id', r.grant_id, 'relid', r.relid, 'grantee', r.grantee))
	  INTO copied
	  FROM @extschema@.access_grant_replica r;
	SELECT jsonb_agg(jsonb_build_object('grant_id', g.grant_id, 'relid', g.relid::text,
	                                    'grantee', g.grantee::text))
	  INTO changed
	  FROM @extschema@.access_grant g
	  JOIN jsonb_to_recordset(copied) AS c(grant_id bigint, relid text, grantee text)
	    ON c.grant_id = g.grant_id
	 WHERE c.relid IS DISTINCT FROM g.relid::text OR c.grantee IS DISTINCT FROM g.grantee::text;
	IF changed IS NOT NULL THEN
		UPDATE @extschema@.access_grant_replica r
		   SET relid = o.relid, grantee = o.grantee
		  FROM jsonb_to_recordset(changed) AS o(grant_id bigint, relid text, grantee text)
		 WHERE r.grant_id = o.grant_id;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._copy_names_refresh() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.distribute(regclass) IS
	'on a Citus coordinator: make the *_replica tables Citus tables, copy consent, purposes, access grants, the offer catalog, intents and signals into them and keep them in step, so that has_consent(), may_process(), has_access() and match() answer on every node; with colocate_with, intents and signals are distributed with that table by subject; run again to copy afresh';

-- Consent views over Citus tables (sql/src/views.sql)
CREATE FUNCTION @extschema@._consent_view_rows(view text)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'personalize_consent_view_rows'
	LANGUAGE C STABLE STRICT;

-- Least privilege by the person (sql/src/privilege.sql): a grant records
-- who decided it, by role and by session user, and has_access() stops
-- counting it once either can act as the grantee; the access ledger names
-- the session user behind each actor.  Grants made before name their
-- granter only: it is looked up by that name.  The ledger's entries
-- before this update keep no session user (NULL), so their hashes stay.
ALTER TABLE @extschema@.access_grant ADD COLUMN granter regrole, ADD COLUMN granter_session regrole;
UPDATE @extschema@.access_grant g
   SET granter = r.oid::pg_catalog.regrole
  FROM pg_catalog.pg_roles r
 WHERE r.rolname OPERATOR(pg_catalog.=) g.granted_by;
ALTER TABLE @extschema@.access_event ADD COLUMN session_actor name;
ALTER TABLE @extschema@.access_event ALTER COLUMN session_actor SET DEFAULT session_user;
CREATE OR REPLACE VIEW @extschema@.access_history AS
	SELECT e.event_id, e.action, e.actor, e.grantee, e.table_name, e.purpose, e.reason,
	       e.valid_from, e.valid_until, e.grant_id, e.request_id, e.occurred_at,
	       e.session_actor
	  FROM @extschema@.access_event e;

-- Reads kept between statements and the hash chains follow every change,
-- also one applied by a logical replication subscription or made under
-- session_replication_role = replica (sql/src/privilege.sql, ledgers.sql).
ALTER TABLE @extschema@.access_grant ENABLE ALWAYS TRIGGER kept_read_changed;
ALTER TABLE @extschema@.purpose ENABLE ALWAYS TRIGGER kept_read_changed;
ALTER TABLE @extschema@.consent ENABLE ALWAYS TRIGGER kept_read_changed;
ALTER TABLE @extschema@.consent_event ENABLE ALWAYS TRIGGER consent_event_chain;
ALTER TABLE @extschema@.access_event ENABLE ALWAYS TRIGGER access_event_chain;
ALTER TABLE @extschema@.purge_event ENABLE ALWAYS TRIGGER purge_event_chain;
ALTER TABLE @extschema@.custody_event ENABLE ALWAYS TRIGGER custody_event_chain;

-- Fail closed on DROP EXTENSION ... CASCADE (sql/src/privilege.sql): the
-- permissive policy of every protected table now depends on the extension.
CREATE FUNCTION @extschema@._rows_open() RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS 'SELECT true';
COMMENT ON FUNCTION @extschema@._rows_open() IS
	'the expression of protect()''s permissive policies: true while the extension exists';
CREATE FUNCTION @extschema@._rows_open_policies() RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_rows_open_policies'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._rows_open_policies() FROM PUBLIC;
SELECT @extschema@._rows_open_policies();

-- DROP EXTENSION with ledgers that hold entries is refused unless the
-- session confirms (sql/src/ledgers.sql).
CREATE FUNCTION @extschema@._drop_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'personalize_drop_guard'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER personalize_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED', 'ALTER SCHEMA')
	EXECUTE FUNCTION @extschema@._drop_guard();

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

-- Every table has a replica identity, so that a publication FOR ALL TABLES
-- (a zero-downtime major upgrade) leaves the publisher working, and a
-- publication can leave the built-in rows out (README "Replication").
ALTER TABLE @extschema@.purge_event REPLICA IDENTITY USING INDEX purge_event_chain_key;
ALTER TABLE @extschema@.access_approver REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.purpose REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.purpose_category REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.data_category REPLICA IDENTITY FULL;
ALTER TABLE @extschema@.personal_data_name REPLICA IDENTITY FULL;

-- A subscription's apply worker fires row triggers only: the kept reads
-- and the offer catalog's bookkeeping get row triggers enabled for
-- replicas, which act there only (src/base/kept.c, sql/src/match.sql).
CREATE FUNCTION @extschema@._applying() RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_applying'
	LANGUAGE C STABLE PARALLEL SAFE;
CREATE TRIGGER kept_read_changed_apply
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.purpose
	FOR EACH ROW EXECUTE FUNCTION @extschema@._kept_read_changed();
ALTER TABLE @extschema@.purpose ENABLE REPLICA TRIGGER kept_read_changed_apply;
CREATE TRIGGER kept_read_changed_apply
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.consent
	FOR EACH ROW EXECUTE FUNCTION @extschema@._kept_read_changed();
ALTER TABLE @extschema@.consent ENABLE REPLICA TRIGGER kept_read_changed_apply;
CREATE TRIGGER kept_read_changed_apply
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.access_grant
	FOR EACH ROW EXECUTE FUNCTION @extschema@._kept_read_changed();
ALTER TABLE @extschema@.access_grant ENABLE REPLICA TRIGGER kept_read_changed_apply;
-- A subscription's apply worker fires row triggers only: there each row
-- applied to the catalog is a change of its own (0.3.0).
CREATE FUNCTION @extschema@._match_catalog_applied() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v bigint;
BEGIN
	-- a subscription that fills the change log too (FOR ALL TABLES) brings
	-- the publisher's entries for the same change
	IF NOT @extschema@._applying()
	   OR @extschema@._subscribed('@extschema@.match_catalog_change'::pg_catalog.regclass) THEN
		RETURN NULL;
	END IF;
	UPDATE @extschema@.match_catalog_version
	   SET version = version OPERATOR(pg_catalog.+) 1, changed_at = pg_catalog.now()
	RETURNING version INTO v;
	IF TG_TABLE_NAME NOT IN ('offers', 'offer_tags') THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, OLD.offer_id);
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.offer_id IS DISTINCT FROM NEW.offer_id) THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NEW.offer_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER offers_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.offers
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER offer_tags_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.offer_tags
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER tag_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tag
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER data_category_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.data_category
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
ALTER TABLE @extschema@.offers ENABLE REPLICA TRIGGER offers_match_catalog_applied;
ALTER TABLE @extschema@.offer_tags ENABLE REPLICA TRIGGER offer_tags_match_catalog_applied;
ALTER TABLE @extschema@.tag ENABLE REPLICA TRIGGER tag_match_catalog_applied;
ALTER TABLE @extschema@.data_category ENABLE REPLICA TRIGGER data_category_match_catalog_applied;
REVOKE ALL ON FUNCTION @extschema@._match_catalog_applied() FROM PUBLIC;

-- A regclass argument that names no relation (a dropped table's OID) is
-- 42P01 everywhere: classify() said syntax error, detect_proxies() named a
-- missing column, match_exposure() an unregistered table.
CREATE FUNCTION @extschema@._require_relation(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_require_relation'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION @extschema@.classify(tbl regclass, col name, category text)
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
CREATE OR REPLACE FUNCTION @extschema@.detect_proxies(
	tbl regclass,
	sensitive_column name,
	threshold double precision DEFAULT 0.5)
RETURNS TABLE (column_name name, association double precision, categories bigint, method text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col record;
	names name[] := '{}';
	methods text[] := '{}';
	exprs text[] := '{}';
	ranges float8[];
	q text;
	values_list text := '';
	r record;
	phi2 float8;
	kc float8;
	rc float8;
	skipped text[] := '{}';
BEGIN
	IF tbl IS NULL OR sensitive_column IS NULL THEN
		RAISE EXCEPTION 'table and sensitive column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._require_relation(tbl);
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM 1 FROM pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = sensitive_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist', sensitive_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;

	-- every other column becomes a category: numbers and times in 10
	-- equal-width bins between their minimum and maximum, the rest as text
	FOR col IN
		SELECT a.attname, a.atttypid::regtype AS typ
		  FROM pg_attribute a
		 WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attname <> sensitive_column
		   AND a.atttypid NOT IN ('bytea'::regtype, 'json'::regtype, 'jsonb'::regtype, 'xml'::regtype)
		 ORDER BY a.attnum
	LOOP
		names := names || col.attname;
		IF col.typ IN ('smallint', 'integer', 'bigint', 'real', 'double precision') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('t.%I::pg_catalog.float8', col.attname);
		ELSIF col.typ = 'numeric'::regtype THEN
			-- beyond float8's range: the infinities
			methods := methods || 'binned'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I = 'NaN' THEN 'NaN'::pg_catalog.float8
			                                 WHEN t.%1$I > 1e308 THEN 'Infinity'::pg_catalog.float8
			                                 WHEN t.%1$I < -1e308 THEN '-Infinity'::pg_catalog.float8
			                                 ELSE t.%1$I::pg_catalog.float8 END$e$, col.attname);
		ELSIF col.typ IN ('date', 'timestamp without time zone', 'timestamp with time zone') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('extract(epoch FROM t.%I)::pg_catalog.float8', col.attname);
		ELSE
			methods := methods || 'categorical'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I IS NOT NULL THEN pg_catalog.format('%%s', t.%1$I) END$e$,
			                         col.attname);
		END IF;
	END LOOP;
	IF cardinality(names) = 0 THEN
		RETURN;
	END IF;

	-- the range of the finite values of every binned column, in one pass
	SELECT string_agg(format($e$min(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity'),
	                            max(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity')$e$, e),
	                  ', ' ORDER BY i)
	  INTO q FROM unnest(exprs, methods) WITH ORDINALITY AS u(e, m, i) WHERE m = 'binned';
	IF q IS NOT NULL THEN
		EXECUTE format('SELECT ARRAY[%s]::pg_catalog.float8[] FROM %s t', q, tbl) INTO ranges;
	END IF;

	-- one key per column and row; the bins of the j-th binned column lie
	-- between $1[2j-1] and $1[2j], nudged up so that the maximum falls in
	-- the last bin; NaN and the infinities are bins of their own
	FOR i IN 1 .. cardinality(names) LOOP
		IF methods[i] = 'binned' THEN
			DECLARE
				j integer := (SELECT count(*) FROM unnest(methods[1:i]) m WHERE m = 'binned');
				lo float8 := ranges[2 * j - 1];
				hi float8 := ranges[2 * j];
			BEGIN
				IF lo < hi THEN
					BEGIN
						ranges[2 * j] := hi + (hi - lo) * 1e-9;
					EXCEPTION WHEN numeric_value_out_of_range THEN
						NULL;	-- the range spans all of float8: no nudge
					END;
				END IF;
				values_list := values_list || format(
					$e$, (%1$s, CASE WHEN %2$s IS NULL THEN '<null>'
					                 WHEN %2$s = 'NaN' THEN 'NaN'
					                 WHEN %2$s = 'Infinity' THEN 'Infinity'
					                 WHEN %2$s = '-Infinity' THEN '-Infinity'
					                 WHEN NOT coalesce($1[%3$s] < $1[%4$s], false) THEN '1'
					                 ELSE LEAST(pg_catalog.width_bucket(%2$s, $1[%3$s], $1[%4$s], 10), 10)::pg_catalog.text
					            END)$e$,
					i, exprs[i], 2 * j - 1, 2 * j);
			END;
		ELSE
			values_list := values_list || format(', (%s, coalesce(%s, %L))', i, exprs[i], '<null>');
		END IF;
	END LOOP;

	-- every contingency table in one scan; chi-square as n * (sum o^2/(row*col) - 1)
	q := format($q$
		WITH cells AS (
			SELECT u.i, u.k, pg_catalog.format('%%s', t.%1$I) AS s, count(*)::float8 AS o
			  FROM %2$s t CROSS JOIN LATERAL (VALUES %3$s) AS u(i, k)
			 WHERE t.%1$I IS NOT NULL
			 GROUP BY 1, 2, 3),
		rowt AS (SELECT i, k, sum(o) AS t FROM cells GROUP BY 1, 2),
		colt AS (SELECT i, s, sum(o) AS t FROM cells GROUP BY 1, 2),
		tot AS (SELECT i, sum(o) AS n FROM cells GROUP BY 1)
		SELECT c.i, tot.n,
		       tot.n * (sum(c.o * c.o / (rowt.t * colt.t)) - 1) AS chi2,
		       (SELECT count(*) FROM rowt x WHERE x.i = c.i) AS kc,
		       (SELECT count(*) FROM colt x WHERE x.i = c.i) AS rc
		  FROM cells c
		  JOIN rowt USING (i, k)
		  JOIN colt USING (i, s)
		  JOIN tot USING (i)
		 GROUP BY c.i, tot.n
		 ORDER BY c.i$q$, sensitive_column, tbl, substr(values_list, 3));

	FOR r IN EXECUTE q USING ranges LOOP
		-- a column with nearly a value per row identifies rows: its
		-- association says nothing about proxying
		IF methods[r.i] = 'categorical' AND (r.kc > 1000 OR r.kc > r.n / 2) THEN
			skipped := skipped || names[r.i]::text;
			CONTINUE;
		END IF;
		-- Cramer's V with the bias correction of Bergsma (2013)
		phi2 := greatest(0, r.chi2 / r.n - (r.kc - 1) * (r.rc - 1) / greatest(r.n - 1, 1));
		kc := r.kc - (r.kc - 1) ^ 2 / greatest(r.n - 1, 1);
		rc := r.rc - (r.rc - 1) ^ 2 / greatest(r.n - 1, 1);
		column_name := names[r.i];
		association := CASE WHEN least(kc, rc) > 1 THEN sqrt(phi2 / (least(kc, rc) - 1)) ELSE 0 END;
		categories := r.kc;
		method := methods[r.i];
		IF association >= threshold THEN
			RETURN NEXT;
		END IF;
	END LOOP;
	IF cardinality(skipped) > 0 THEN
		RAISE NOTICE 'skipped columns with about one value per row: %', array_to_string(skipped, ', ')
			USING HINT = 'An identifier predicts every attribute of its own row; proxies are columns many rows share.';
	END IF;
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.match_exposure(
	tbl regclass,
	group_column name,
	k integer DEFAULT 10)
RETURNS TABLE (offer_id text, group_value text, subjects bigint, shown bigint,
               exposure double precision, impact_ratio double precision,
               disparate_impact boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	subject_col name;
	col record;
BEGIN
	IF tbl IS NULL OR group_column IS NULL OR k IS NULL THEN
		RAISE EXCEPTION 'table, group column and k must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM @extschema@._require_relation(tbl);
	subject_col := @extschema@._match_subject_column(tbl);
	IF subject_col IS NULL THEN
		RAISE EXCEPTION 'table % is not a registered subject table', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register it with personalize.register_table(), naming its subject column.';
	END IF;
	PERFORM 1 FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) group_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', group_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	SELECT c.category, c.sensitivity, c.demographic, c.proxy_for INTO col
	  FROM @extschema@.classified_columns c
	 WHERE c.table_name OPERATOR(pg_catalog.=) tbl AND c.column_name OPERATOR(pg_catalog.=) group_column;
	IF NOT FOUND OR NOT (col.sensitivity IN ('sensitive', 'special') OR col.demographic
	                     OR col.proxy_for IS NOT NULL) THEN
		RAISE EXCEPTION 'column "%" of % is not classified as sensitive', group_column, tbl
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = CASE WHEN NOT FOUND THEN 'The column has no data category.'
			                    ELSE format('Its category "%s" is %s.', col.category, coalesce(col.sensitivity, 'unknown')) END,
			      HINT = 'Exposure is audited by groups of a sensitive, special, demographic or proxy column; classify it with SECURITY LABEL FOR personalize.';
	END IF;
	IF k OPERATOR(pg_catalog.<) 1 OR k OPERATOR(pg_catalog.>) 10000 THEN
		RAISE EXCEPTION 'k must be between 1 and 10000'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	RETURN QUERY EXECUTE format($q$
		WITH s AS (
			-- output functions, not casts: a cast on the column's type would
			-- be code of its owner, run as the auditor
			SELECT pg_catalog.format('%%s', t.%1$I) AS subject,
			       CASE WHEN t.%2$I IS NULL THEN '(null)' ELSE pg_catalog.format('%%s', t.%2$I) END AS grp
			  FROM %3$s t
			 WHERE t.%1$I IS NOT NULL),
		g AS (SELECT s.grp, count(*) AS n FROM s GROUP BY s.grp),
		hits AS (
			SELECT s.grp, m.offer_id, count(*) AS c
			  FROM s CROSS JOIN LATERAL @extschema@.match(s.subject, $1) m
			 GROUP BY s.grp, m.offer_id),
		grid AS (
			SELECT o.offer_id, g.grp, g.n, coalesce(h.c, 0) AS c,
			       coalesce(h.c, 0)::float8 / g.n AS rate
			  FROM (SELECT DISTINCT h.offer_id FROM hits h) o
			 CROSS JOIN g
			  LEFT JOIN hits h ON h.offer_id = o.offer_id AND h.grp = g.grp)
		SELECT grid.offer_id, grid.grp, grid.n, grid.c, grid.rate,
		       grid.rate / max(grid.rate) OVER w,
		       grid.rate / max(grid.rate) OVER w < 0.8
		  FROM grid
		WINDOW w AS (PARTITION BY grid.offer_id)
		 ORDER BY grid.offer_id COLLATE "C", grid.grp COLLATE "C"$q$,
		subject_col, group_column, tbl)
	USING k;
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.drop_consent_view(view regclass)
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

-- A description, value exchange, agreement, offer id or title of tabs,
-- line breaks or no-break spaces is as empty as one of spaces
-- (src/base/text.c).  An update over a row that breaks the new checks
-- stops and names the constraint: fix the row, then update again.
CREATE FUNCTION @extschema@._blank(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_blank'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OR REPLACE FUNCTION @extschema@.define_purpose(
	name text,
	description text,
	value_exchange text,
	categories text[] DEFAULT '{}',
	parent text DEFAULT NULL,
	lawful_basis text DEFAULT 'consent')
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
	parent_id integer;
	unknown text;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
		RAISE EXCEPTION 'invalid purpose name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use lower-case names such as "newsletter" or "marketing.email".';
	END IF;
	IF description IS NULL OR @extschema@._blank(description) THEN
		RAISE EXCEPTION 'purpose "%" needs a description', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Say in plain words what the data is used for.';
	END IF;
	IF value_exchange IS NULL OR @extschema@._blank(value_exchange) THEN
		RAISE EXCEPTION 'purpose "%" needs a value exchange', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'Provide clear benefits in exchange for data.',
			      HINT = 'Say what the customer gets in return, for example "offers matched to the interests you tell us".';
	END IF;
	IF lawful_basis IS NULL THEN
		RAISE EXCEPTION 'lawful basis must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Omit it for a purpose that needs consent.';
	END IF;
	IF NOT lawful_basis OPERATOR(pg_catalog.=) ANY (@extschema@._lawful_bases()) THEN
		RAISE EXCEPTION 'unknown lawful basis "%"', lawful_basis
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = format('The lawful bases are %s.',
			                    array_to_string(@extschema@._lawful_bases(), ', '));
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.purpose p WHERE p.name OPERATOR(pg_catalog.=) define_purpose.name) THEN
		RAISE EXCEPTION 'purpose "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF parent IS NOT NULL THEN
		parent_id := @extschema@._purpose_id(parent);
	END IF;
	IF array_position(categories, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'data category must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c INTO unknown FROM unnest(coalesce(categories, '{}')) c
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) c)
	 LIMIT 1;
	IF FOUND THEN
		PERFORM @extschema@._unknown_category(unknown);
	END IF;

	INSERT INTO @extschema@.purpose (name, description, value_exchange, parent_id, lawful_basis)
	VALUES (name, description, value_exchange, parent_id, lawful_basis)
	RETURNING purpose_id INTO new_id;
	INSERT INTO @extschema@.purpose_category (purpose_id, category)
	SELECT DISTINCT new_id, c FROM unnest(categories) c;
END
$$;
CREATE OR REPLACE FUNCTION @extschema@.register_partner(
	name text,
	agreement text,
	purposes text[],
	categories text[],
	valid_until timestamptz)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
	old record;
	unknown text;
	special text;
	purpose_ids integer[];
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'partner must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF @extschema@._blank(name) OR @extschema@._blank(left(name, 1)) OR @extschema@._blank(right(name, 1))
	   OR name OPERATOR(pg_catalog.~) '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'invalid partner name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'A partner name is not empty, has no control characters and no white space at either end.';
	END IF;
	IF agreement IS NULL OR @extschema@._blank(agreement) THEN
		RAISE EXCEPTION 'partner "%" needs an agreement', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the governance agreement the partner signed, for example its contract reference.';
	END IF;
	IF coalesce(cardinality(purposes), 0) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'partner "%" needs at least one purpose', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the purposes the agreement lets the partner use the data for.';
	END IF;
	IF coalesce(cardinality(categories), 0) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'partner "%" needs at least one data category', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the data categories the agreement lets the partner receive.';
	END IF;
	IF array_position(purposes, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF array_position(categories, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'data category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF valid_until IS NULL THEN
		RAISE EXCEPTION 'the end of the agreement must not be null'
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = 'Every agreement ends; pass the date in the contract.';
	END IF;
	IF valid_until OPERATOR(pg_catalog.<=) now() THEN
		RAISE EXCEPTION 'the agreement with partner "%" would already have ended', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('It ends at %s.', valid_until);
	END IF;
	-- unknown purposes and categories: _purpose_id() and _unknown_category() say which
	SELECT array_agg(@extschema@._purpose_id(p) ORDER BY p) INTO purpose_ids
	  FROM (SELECT DISTINCT p FROM unnest(purposes) p) d;
	SELECT c INTO unknown FROM unnest(categories) c
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) c)
	 LIMIT 1;
	IF FOUND THEN
		PERFORM @extschema@._unknown_category(unknown);
	END IF;
	SELECT c INTO special FROM unnest(categories) c
	  JOIN @extschema@.data_category d ON d.name OPERATOR(pg_catalog.=) c
	 WHERE d.sensitivity OPERATOR(pg_catalog.=) 'special'
	   AND NOT EXISTS (SELECT 1 FROM unnest(purpose_ids) pid
	                    WHERE @extschema@._column_allowed(pid, c))
	 ORDER BY c LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'partner "%" may not receive special category data "%"', name, special
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'None of its purposes names that category.',
			      HINT = 'Leave the category out of the agreement, or give the partner a purpose that names it.';
	END IF;

	SELECT p.partner_id, p.ended_at, p.valid_until INTO old
	  FROM @extschema@.partner p WHERE p.name OPERATOR(pg_catalog.=) register_partner.name
	   FOR UPDATE;
	IF FOUND THEN
		IF old.ended_at IS NULL AND old.valid_until OPERATOR(pg_catalog.>) now() THEN
			RAISE EXCEPTION 'partner "%" already has an agreement in force', name
				USING ERRCODE = 'duplicate_object',
				      HINT = 'End it with personalize.end_partner() before registering a new one.';
		END IF;
		-- a new agreement with a partner whose last one ended
		DELETE FROM @extschema@.partner p WHERE p.partner_id OPERATOR(pg_catalog.=) old.partner_id;
	END IF;
	INSERT INTO @extschema@.partner (name, agreement, valid_until)
	VALUES (name, agreement, valid_until)
	RETURNING partner_id INTO new_id;
	INSERT INTO @extschema@.partner_purpose (partner_id, purpose_id)
	SELECT new_id, pid FROM unnest(purpose_ids) pid;
	INSERT INTO @extschema@.partner_category (partner_id, category)
	SELECT DISTINCT new_id, c FROM unnest(categories) c;
END
$$;
ALTER TABLE @extschema@.purpose
	DROP CONSTRAINT purpose_value_exchange_check,
	ADD CONSTRAINT purpose_value_exchange_check CHECK (NOT @extschema@._blank(value_exchange));
ALTER TABLE @extschema@.offers
	DROP CONSTRAINT offers_offer_id_check,
	ADD CONSTRAINT offers_offer_id_check CHECK (NOT @extschema@._blank(offer_id)),
	DROP CONSTRAINT offers_title_check,
	ADD CONSTRAINT offers_title_check CHECK (NOT @extschema@._blank(title));

-- The purpose hierarchy's writers are serialized and read it as committed
-- now: two sessions could each pass the depth and cycle checks and
-- together break them (src/consent/purpose.c).
-- Where a purpose would stand in the hierarchy, read under a lock that
-- serializes the hierarchy's writers (src/consent/purpose.c).  0.3.0.
CREATE FUNCTION @extschema@._purpose_tree_shape(
	purpose_id integer, parent_id integer,
	OUT ancestors integer, OUT cycle boolean, OUT below integer)
	AS 'MODULE_PATHNAME', 'personalize_purpose_tree_shape'
	LANGUAGE C VOLATILE;

-- A purpose hierarchy must stay a tree that has_consent() can read,
-- however it is edited, also by sessions editing it at once: no cycle, and
-- no deeper than the limit.
CREATE OR REPLACE FUNCTION @extschema@._purpose_check_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	shape record;
	limit_ constant integer := @extschema@._purpose_depth_limit();
BEGIN
	shape := @extschema@._purpose_tree_shape(NEW.purpose_id, NEW.parent_id);
	IF shape.cycle THEN
		RAISE EXCEPTION 'purpose "%" cannot be its own ancestor', NEW.name
			USING ERRCODE = 'invalid_recursion',
			      HINT = 'Purposes form a tree: choose a parent that is not below this purpose.';
	END IF;
	IF shape.ancestors OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.+) shape.below OPERATOR(pg_catalog.>) limit_ THEN
		RAISE EXCEPTION 'purpose "%" would be nested more than % levels deep', NEW.name, limit_
			USING ERRCODE = 'program_limit_exceeded',
			      DETAIL = pg_catalog.format('A purpose and its ancestors may span at most %s levels, as many as has_consent() reads.', limit_),
			      HINT = 'Choose a parent higher in the hierarchy.';
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@._purpose_tree_shape(integer, integer) FROM PUBLIC;

-- A subscription that copies the extension's tables into a database that
-- has the extension (FOR ALL TABLES, as a major upgrade by logical
-- replication does it) brings the publisher's built-in rows, which every
-- database of this version has alike: the subscriber keeps its own, and
-- takes the publisher's catalog version over its own one row.  Fired for
-- replication only (ENABLE REPLICA).  0.3.0.
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
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['data_category', 'purpose', 'purpose_category', 'personal_data_name',
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

-- _applying() and _subscribed() serve the catalog's SECURITY DEFINER
-- triggers only.
REVOKE ALL ON FUNCTION @extschema@._applying(), @extschema@._subscribed(regclass) FROM PUBLIC;

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
