-- sql/src/base-citus.sql: running on a Citus cluster (0.3.0)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.
--
-- On a Citus cluster a filter such as has_consent(customer_id, 'marketing')
-- a lateral match(customer_id) or a protected table's policy over a
-- distributed table runs on the worker nodes, next to the shards.  What it reads must be there, current:
-- distribute() makes the tables below Citus reference tables (one copy on
-- every node, written by the coordinator in the same distributed
-- transaction as the change) and keeps them in step with the tables they
-- copy from statement triggers on those.  On a worker, has_consent(),
-- may_process(), has_access() and match() read the node's copies
-- (src/consent/consent.c, src/privilege/grants.c, src/match/); the coordinator
-- reads the tables themselves.
-- Without Citus the copies stay empty and nothing writes them.
--
-- Each copy holds the columns its readers read, under the same names, and
-- the same keys (src/base/names.h): the C code reads either through one lookup.

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
	'on a Citus cluster, after distribute(): the columns of intent that match() reads, a reference table on every node; written only by triggers on intent';

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
	'on a Citus cluster, after distribute(): signal as match() reads it, a reference table on every node; written only by triggers on signal';

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

CREATE FUNCTION @extschema@.distribute()
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
	is_citus_table boolean;
	op text;
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
	-- no change to a copied table between its copy and its triggers
	LOCK TABLE @extschema@.purpose, @extschema@.consent, @extschema@.access_grant,
	           @extschema@.data_category,
	           @extschema@.tag, @extschema@.offers, @extschema@.offer_tags,
	           @extschema@.match_catalog_version, @extschema@.match_catalog_change,
	           @extschema@.intent, @extschema@.signal
	  IN SHARE MODE;
	-- the consent and grant copies carry kept_read_changed, which Citus creates on their shards
	SET LOCAL citus.enable_unsafe_triggers = on;
	FOR pair IN
		SELECT v.r, v.s, v.k FROM (VALUES
			(1, '@extschema@.purpose_replica'::regclass, '@extschema@.purpose'::regclass,
			 ARRAY['purpose_id']),
			(2, '@extschema@.consent_replica'::regclass, '@extschema@.consent'::regclass,
			 ARRAY['subject', 'purpose_id']),
			(3, '@extschema@.access_grant_replica'::regclass, '@extschema@.access_grant'::regclass,
			 ARRAY['grant_id']),
			(4, '@extschema@.data_category_replica'::regclass, '@extschema@.data_category'::regclass,
			 ARRAY['name']),
			(5, '@extschema@.tag_replica'::regclass, '@extschema@.tag'::regclass,
			 ARRAY['tag']),
			(6, '@extschema@.offers_replica'::regclass, '@extschema@.offers'::regclass,
			 ARRAY['offer_id']),
			(7, '@extschema@.offer_tags_replica'::regclass, '@extschema@.offer_tags'::regclass,
			 ARRAY['offer_id', 'tag']),
			(8, '@extschema@.match_catalog_version_replica'::regclass, '@extschema@.match_catalog_version'::regclass,
			 ARRAY['only_row']),
			(9, '@extschema@.match_catalog_change_replica'::regclass, '@extschema@.match_catalog_change'::regclass,
			 ARRAY['version', 'offer_id']),
			(10, '@extschema@.intent_replica'::regclass, '@extschema@.intent'::regclass,
			 ARRAY['subject', 'tag']),
			(11, '@extschema@.signal_replica'::regclass, '@extschema@.signal'::regclass,
			 ARRAY['signal_id'])) v(o, r, s, k)
		 ORDER BY v.o
	LOOP
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
			INTO STRICT is_citus_table USING pair.r;
		IF NOT is_citus_table THEN
			EXECUTE 'SELECT pg_catalog.create_reference_table($1)' USING pair.r;
		END IF;
		EXECUTE format('TRUNCATE %s', pair.r);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO STRICT cols
		  FROM pg_attribute a
		 WHERE a.attrelid = pair.r AND a.attnum > 0 AND NOT a.attisdropped;
		EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s', pair.r, cols, cols, pair.s);
		GET DIAGNOSTICS n = ROW_COUNT;
		-- keep the copy in step, also for replication's changes
		IF NOT EXISTS (SELECT 1 FROM pg_trigger t
		                WHERE t.tgrelid = pair.s
		                  AND t.tgname = (SELECT c.relname FROM pg_class c WHERE c.oid = pair.s) || '_replicate_insert') THEN
			FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
				EXECUTE format('CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT'
				               ' EXECUTE FUNCTION @extschema@._replicate(%L, %s)',
				               (SELECT c.relname FROM pg_class c WHERE c.oid = pair.s) || '_replicate_' || op,
				               upper(op), pair.s,
				               CASE op WHEN 'insert' THEN 'REFERENCING NEW TABLE AS new_rows'
				                       WHEN 'update' THEN 'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
				                       WHEN 'delete' THEN 'REFERENCING OLD TABLE AS old_rows'
				                       ELSE '' END,
				               pair.r::text,
				               (SELECT string_agg(quote_literal(k), ', ') FROM unnest(pair.k) k));
				EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', pair.s,
				               (SELECT c.relname FROM pg_class c WHERE c.oid = pair.s) || '_replicate_' || op);
			END LOOP;
		END IF;
		replica := pair.r;
		source := pair.s;
		rows_copied := n;
		RETURN NEXT;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.distribute() FROM PUBLIC;

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
COMMENT ON FUNCTION @extschema@.distribute() IS
	'on a Citus coordinator: make the *_replica tables reference tables, copy consent, purposes, access grants, the offer catalog, intents and signals into them and keep them in step, so that has_consent(), may_process(), has_access() and match() answer on every node; run again to copy afresh';
