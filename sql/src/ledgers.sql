-- sql/src/ledgers.sql: hash-chained ledgers, verify_ledgers(), ledger_digest()
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.
--
-- Four ledgers may only grow: consent history (consent_event), the access
-- ledger (access_event), the custody log (custody_event, partners.sql) and
-- the purge ledger (purge_event).  Each is a hash chain: a BEFORE INSERT
-- trigger (src/ledgers/ledgers.c) gives every entry its position chain_seq, the hash
-- of the entry before it and its own hash, under a lock that keeps the
-- chain linear with concurrent writers.  verify_ledgers() walks the chains.

CREATE FUNCTION @extschema@._ledger_chain() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_ledger_chain'
	LANGUAGE C;

-- The ledgers, in the order verify_ledgers() reports them.
CREATE FUNCTION @extschema@._ledger_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['consent', 'access', 'custody', 'purge']::pg_catalog.text[] $$;

-- The chain triggers fire however an entry arrives (0.3.0): a writer under
-- session_replication_role = replica gets its entries chained, and a
-- logical replication subscription's apply worker keeps the chain values
-- the publisher's entries bring (src/ledgers/ledgers.c).
CREATE UNIQUE INDEX consent_event_chain_key ON @extschema@.consent_event (chain_seq);
CREATE TRIGGER consent_event_chain
	BEFORE INSERT ON @extschema@.consent_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('consent');
ALTER TABLE @extschema@.consent_event ENABLE ALWAYS TRIGGER consent_event_chain;

CREATE UNIQUE INDEX access_event_chain_key ON @extschema@.access_event (chain_seq);
CREATE TRIGGER access_event_chain
	BEFORE INSERT ON @extschema@.access_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('access');
ALTER TABLE @extschema@.access_event ENABLE ALWAYS TRIGGER access_event_chain;

-- The purge ledger: one entry per purge run that deleted rows or failed,
-- written when the run ends (purge_run, which the purge log view shows, is
-- the working copy and is trimmed after personalize.purge_log_keep; this
-- ledger is kept).  Counts and names, never the data nor an error message
-- (which can quote a row).
CREATE TABLE @extschema@.purge_event (
	run_id             bigint NOT NULL,
	table_name         text NOT NULL,
	started_at         timestamptz NOT NULL,
	finished_at        timestamptz,
	rows_deleted       bigint NOT NULL,
	batches            integer NOT NULL,
	partitions_dropped integer NOT NULL,
	outcome            text NOT NULL,
	started_by         text NOT NULL,
	recorded_at        timestamptz NOT NULL DEFAULT now(),
	chain_seq          bigint NOT NULL,
	prev_hash          bytea NOT NULL,
	entry_hash         bytea NOT NULL
);
CREATE UNIQUE INDEX purge_event_chain_key ON @extschema@.purge_event (chain_seq);
-- a replica identity, so that a publication FOR ALL TABLES leaves the
-- publisher's writes working (0.3.0)
ALTER TABLE @extschema@.purge_event REPLICA IDENTITY USING INDEX purge_event_chain_key;
COMMENT ON TABLE @extschema@.purge_event IS
	'every purge run that deleted rows or failed, once it ended; append-only and hash-chained, never trimmed';
CREATE TRIGGER purge_event_chain
	BEFORE INSERT ON @extschema@.purge_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('purge');
ALTER TABLE @extschema@.purge_event ENABLE ALWAYS TRIGGER purge_event_chain;
CREATE TRIGGER purge_event_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.purge_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_guard();
CREATE TRIGGER purge_event_no_truncate
	BEFORE TRUNCATE ON @extschema@.purge_event
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._ledger_guard();

-- A run enters the ledger when it ends.  Not while a superuser restores a
-- dump (check_function_bodies = off): the ledger's own rows come with it.
CREATE FUNCTION @extschema@._purge_run_ended() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT current_setting('check_function_bodies')::boolean
	   AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
		RETURN NULL;
	END IF;
	INSERT INTO @extschema@.purge_event
	       (run_id, table_name, started_at, finished_at, rows_deleted, batches,
	        partitions_dropped, outcome, started_by)
	VALUES (NEW.run_id, NEW.relid::text, NEW.started_at, NEW.finished_at, NEW.rows_deleted,
	        NEW.batches, NEW.partitions_dropped, NEW.outcome, NEW.started_by);
	RETURN NULL;
END
$$;
CREATE TRIGGER purge_run_ended
	AFTER INSERT OR UPDATE OF outcome ON @extschema@.purge_run
	FOR EACH ROW WHEN (NEW.outcome <> 'running')
	EXECUTE FUNCTION @extschema@._purge_run_ended();

CREATE VIEW @extschema@.purge_history AS
	SELECT e.run_id, e.table_name, e.started_at, e.finished_at, e.rows_deleted,
	       e.batches, e.partitions_dropped, e.outcome, e.started_by
	  FROM @extschema@.purge_event e;
COMMENT ON VIEW @extschema@.purge_history IS
	'every purge run that deleted rows or failed, kept for good (the purge ledger)';

-- Verification.
CREATE FUNCTION @extschema@._verify_ledger(
	ledger text, digest_entries bigint, digest_head bytea,
	OUT entries bigint, OUT head text, OUT intact boolean,
	OUT broken_at bigint, OUT problem text)
	AS 'MODULE_PATHNAME', 'personalize_verify_ledger'
	LANGUAGE C STABLE;

CREATE FUNCTION @extschema@._ledger_head(ledger text, OUT entries bigint, OUT head text)
	AS 'MODULE_PATHNAME', 'personalize_ledger_head'
	LANGUAGE C STABLE STRICT;

-- A digest is what ledger_digest() returns; anything else is refused
-- before a chain is read.
CREATE FUNCTION @extschema@._check_ledger_digest(digest jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problem text;
	k text;
	v jsonb;
BEGIN
	IF digest IS NULL THEN
		RETURN;
	END IF;
	IF jsonb_typeof(digest) <> 'object'
	   OR digest->>'format' IS DISTINCT FROM 'personalize ledger digest' THEN
		problem := 'It is not an object with "format": "personalize ledger digest".';
	ELSIF digest->'version' IS DISTINCT FROM '1'::jsonb THEN
		problem := format('Its version %s is not one this version of personalize writes.',
		                  coalesce(digest->>'version', 'null'));
	ELSIF jsonb_typeof(digest->'ledgers') IS DISTINCT FROM 'object' THEN
		problem := 'It has no "ledgers" object.';
	ELSE
		FOR k, v IN SELECT e.key, e.value FROM jsonb_each(digest->'ledgers') e LOOP
			IF NOT k = ANY (@extschema@._ledger_names()) THEN
				problem := format('It names a ledger "%s", which does not exist.', k);
			ELSIF jsonb_typeof(v) IS DISTINCT FROM 'object'
			      OR jsonb_typeof(v->'entries') IS DISTINCT FROM 'number'
			      OR v->>'entries' !~ '^[0-9]{1,18}$' THEN
				problem := format('The entries of ledger "%s" are not a whole number.', k);
			ELSIF (v->>'entries')::bigint = 0 AND v->'head' IS DISTINCT FROM 'null'::jsonb THEN
				problem := format('Ledger "%s" has no entries, so its head must be null.', k);
			ELSIF (v->>'entries')::bigint > 0
			      AND (jsonb_typeof(v->'head') IS DISTINCT FROM 'string'
			           OR v->>'head' !~ '^[0-9a-f]{64}$') THEN
				problem := format('The head of ledger "%s" is not 64 hexadecimal digits.', k);
			END IF;
			EXIT WHEN problem IS NOT NULL;
		END LOOP;
	END IF;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION 'invalid ledger digest'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = problem,
			      HINT = 'Pass a value that personalize.ledger_digest() returned, unchanged.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.ledger_digest() RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'format', 'personalize ledger digest',
		'version', 1,
		'database', current_database(),
		'taken_at', now(),
		'ledgers', (SELECT jsonb_object_agg(n.name, jsonb_build_object('entries', h.entries, 'head', h.head))
		              FROM unnest(@extschema@._ledger_names()) AS n(name),
		                   LATERAL @extschema@._ledger_head(n.name) h))
$$;
COMMENT ON FUNCTION @extschema@.ledger_digest() IS
	'each ledger''s length and head hash, to keep outside the database and pass to verify_ledgers() later';

CREATE FUNCTION @extschema@.verify_ledgers(digest jsonb DEFAULT NULL)
RETURNS TABLE (ledger text, entries bigint, head text, intact boolean,
               broken_at bigint, problem text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@._check_ledger_digest(digest);
	RETURN QUERY
		SELECT n.name, v.entries, v.head, v.intact, v.broken_at, v.problem
		  FROM unnest(@extschema@._ledger_names()) WITH ORDINALITY AS n(name, ord),
		       LATERAL @extschema@._verify_ledger(
		           n.name,
		           (digest->'ledgers'->n.name->>'entries')::bigint,
		           decode(digest->'ledgers'->n.name->>'head', 'hex')) v
		 ORDER BY n.ord;
END
$$;
COMMENT ON FUNCTION @extschema@.verify_ledgers(jsonb) IS
	'walk every ledger''s hash chain and name the first broken link; with a digest from ledger_digest(), also find a chain cut short or rewritten';

-- DROP EXTENSION (and DROP SCHEMA personalize, DROP OWNED BY the
-- extension's owner) would destroy the ledgers, the proof of what each
-- customer agreed to: refused while they hold entries, unless the session
-- sets personalize.drop_ledgers = on (0.3.0, src/ledgers/ledgers.c).  The
-- same trigger refuses ALTER SCHEMA personalize RENAME: the extension is
-- not relocatable.
CREATE FUNCTION @extschema@._drop_guard() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'personalize_drop_guard'
	LANGUAGE C;
CREATE EVENT TRIGGER personalize_drop_guard ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED', 'ALTER SCHEMA')
	EXECUTE FUNCTION @extschema@._drop_guard();

REVOKE ALL ON FUNCTION
	@extschema@._drop_guard(),
	@extschema@._ledger_chain(),
	@extschema@._ledger_names(),
	@extschema@._check_ledger_digest(jsonb),
	@extschema@._purge_run_ended(),
	@extschema@._verify_ledger(text, bigint, bytea),
	@extschema@._ledger_head(text),
	@extschema@.ledger_digest(),
	@extschema@.verify_ledgers(jsonb)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purge_event', '');
