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
