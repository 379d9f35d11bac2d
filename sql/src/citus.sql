-- sql/src/citus.sql: running on a Citus cluster (0.3.0)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.
--
-- On a Citus cluster a filter such as has_consent(customer_id, 'marketing')
-- over a distributed table runs on the worker nodes, next to the shards.
-- What it reads must be there, current: distribute() makes the two tables
-- below Citus reference tables (one copy on every node, written by the
-- coordinator in the same distributed transaction as the change) and keeps
-- them in step with consent and purpose from statement triggers on those.
-- On a worker, has_consent() and may_process() read the node's copy
-- (src/consent.c); the coordinator reads consent and purpose themselves.
-- Without Citus both stay empty and nothing writes them.

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
