--
-- Retention rules, purge(), run_maintenance()
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
\set SHOW_CONTEXT never
SET personalize.review_ddl = off;

-- resolved cases go 90 days after closing; open ones stay
CREATE TABLE cases (
	case_id     int PRIMARY KEY,
	customer_id bigint NOT NULL,
	status      text NOT NULL,
	closed_at   timestamptz NOT NULL,
	note        text
);
CREATE INDEX ON cases (closed_at);
INSERT INTO cases
	SELECT i, i % 50, CASE WHEN i % 3 = 0 THEN 'open' ELSE 'resolved' END,
	       now() - (i % 200) * interval '1 day', 'case ' || i
	  FROM generate_series(1, 6000) AS i;
SELECT register_table('cases', 'customer_id');

SELECT set_retention('cases', 'closed_at', '90 days', $$status = 'resolved'$$);
SELECT table_name, time_column, keep, condition, last_run_at IS NULL AS never_run
  FROM retention_rules;
-- the rule is shown as PostgreSQL reads it back
SELECT condition FROM retention_rule;

-- what should go, and what must stay
CREATE TEMP TABLE before AS SELECT * FROM cases;
SELECT count(*) FILTER (WHERE status = 'resolved' AND closed_at < now() - interval '90 days') AS to_go,
       count(*) FILTER (WHERE NOT (status = 'resolved' AND closed_at < now() - interval '90 days')) AS to_stay
  FROM cases;
SELECT purge('cases') AS deleted;
SELECT count(*) AS wrongly_deleted FROM before b
 WHERE NOT (b.status = 'resolved' AND b.closed_at < now() - interval '90 days')
   AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.case_id = b.case_id);
SELECT count(*) AS expired_left FROM cases
 WHERE status = 'resolved' AND closed_at < now() - interval '90 days';
SELECT table_name, rows_deleted, batches >= 1 AS batched, outcome, started_by FROM purge_log;
SELECT last_outcome, last_rows FROM retention_rules;
SELECT purge('cases') AS nothing_left_to_delete;
SELECT count(*) AS runs_logged FROM purge_log;    -- a run that deleted nothing is not logged

-- without an index on the time column (batches of heap pages), and by date
DROP INDEX cases_closed_at_idx;
INSERT INTO cases SELECT 10000 + i, 1, 'resolved', now() - interval '100 days' FROM generate_series(1, 500) i;
SELECT purge('cases') AS deleted_without_index;
CREATE TABLE visits (visit_id int, customer_id bigint, visited_on date NOT NULL);
INSERT INTO visits SELECT i, i % 10, current_date - (i % 30) FROM generate_series(1, 3000) i;
SELECT set_retention('visits', 'visited_on', '7 days');
SELECT purge('visits') AS deleted_by_date;
SELECT min(visited_on) >= current_date - 7 AS only_recent_left, count(*) FROM visits;

-- purge() with no argument runs every rule
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1, 10) i;
INSERT INTO cases SELECT 20000 + i, 1, 'resolved', now() - interval '100 days' FROM generate_series(1, 5) i;
SELECT purge() AS deleted_everywhere;

-- range partitions entirely past the cutoff are detached and dropped
CREATE TABLE events (event_id int, customer_id bigint, at timestamptz NOT NULL)
	PARTITION BY RANGE (at);
DO $$
BEGIN
	FOR m IN 0 .. 5 LOOP
		EXECUTE format('CREATE TABLE events_m%s PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
		               m, date_trunc('month', now()) - (m + 1) * interval '1 month',
		               date_trunc('month', now()) - m * interval '1 month');
	END LOOP;
END $$;
CREATE TABLE events_current PARTITION OF events FOR VALUES FROM (date_trunc('month', now())) TO (MAXVALUE);
INSERT INTO events SELECT i, i % 10, now() - (i % 180) * interval '1 day' FROM generate_series(1, 1800) i;
SELECT set_retention('events', 'at', '70 days');
SELECT count(*) FILTER (WHERE at < now() - interval '70 days') AS to_go FROM events \gset
SELECT :to_go AS to_go;
-- what was erased is counted exactly, dropped partitions included (the
-- table was never analyzed: no estimate to go by)
SELECT purge('events') = :to_go AS purged_and_counted;
SELECT rows_deleted = :to_go AS logged_exactly FROM purge_log WHERE table_name = 'events'::regclass;
SELECT count(*) FILTER (WHERE at < now() - interval '70 days') AS expired_left,
       count(*) FILTER (WHERE at >= now() - interval '70 days') AS recent_kept FROM events;
SELECT partitions_dropped >= 3 AS whole_partitions_dropped FROM purge_log WHERE table_name = 'events'::regclass;
SELECT count(*) >= 3 AS old_partitions_gone FROM generate_series(3, 5) m
 WHERE to_regclass('events_m' || m) IS NULL;
SELECT to_regclass('events_current') IS NOT NULL AS current_partition_kept;

-- bad rules: a clear error, nothing stored
SELECT count(*) AS rules_before FROM retention_rule \gset
SELECT set_retention('cases', 'closed_at', '90 days', $$status = 'resolved'; DROP TABLE cases$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$status IN (SELECT 'resolved')$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$EXISTS (SELECT 1 FROM pg_class)$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$status = 'resolved' GROUP BY 1$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$true) OR (true$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$status$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$no_such_column = 1$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$count(*) > 1$$);
-- a whole-row reference would fail every purge: refused when set
SELECT set_retention('cases', 'closed_at', '90 days', $$cases IS NOT NULL$$);
SELECT set_retention('cases', 'closed_at', '90 days', $$row_to_json(cases) IS NOT NULL$$);
SELECT set_retention('cases', 'closed_at', '0 days');
SELECT set_retention('cases', 'closed_at', '-3 days');
SELECT set_retention('cases', 'closed_at', '400 days');
-- months and years are counted as the calendar counts them, not as 30 days
-- (terse: how many days a year has depends on today's date)
\set VERBOSITY terse
SELECT set_retention('cases', 'closed_at', '1 year 5 days');
\set VERBOSITY default
SELECT set_retention('cases', 'closed_at', '366 days');
SELECT set_retention('cases', 'status', '30 days');
SELECT set_retention('cases', 'no_such_column', '30 days');
SELECT set_retention('no_such_table', 'closed_at', '30 days');
CREATE VIEW open_cases AS SELECT * FROM cases WHERE status = 'open';
SELECT set_retention('open_cases', 'closed_at', '30 days');
SELECT set_retention('cases', NULL, '30 days');
SELECT set_retention('cases', 'closed_at', NULL);
-- a table that is gone, named by its OID (a regclass may hold any)
SELECT set_retention(999999::oid::regclass, 'closed_at', '30 days');
SELECT drop_retention(999999::oid::regclass);
SELECT purge(999999::oid::regclass);
CALL run_purge(999999::oid::regclass);
SELECT count(*) = :rules_before AS nothing_stored FROM retention_rule;
SELECT condition FROM retention_rule WHERE relid = 'cases'::regclass;
-- a comment cannot cut the generated statement short: it is not stored
SELECT set_retention('cases', 'closed_at', '90 days', $$status = 'resolved' -- and more$$);
SELECT condition FROM retention_rule WHERE relid = 'cases'::regclass;
-- max_retention: the cap can be lowered, and raised only by a superuser
SET personalize.max_retention = '30d';
SELECT set_retention('cases', 'closed_at', '60 days');
RESET personalize.max_retention;
SELECT drop_retention('open_cases');
DROP VIEW open_cases;

-- security: a rule deletes, and its condition runs, as the table's owner
CREATE ROLE regress_owner;
CREATE ROLE regress_stranger;
CREATE TABLE secrets (x int);
GRANT USAGE, CREATE ON SCHEMA public TO regress_owner;
SET ROLE regress_owner;
CREATE TABLE owned_cases (case_id int, closed_at timestamptz NOT NULL, status text);
INSERT INTO owned_cases SELECT i, now() - interval '100 days', 'resolved' FROM generate_series(1, 10) i;
CREATE FUNCTION try_superuser() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE regress_owner SUPERUSER;
	RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'could not become superuser: running as %', current_user;
END $$;
CREATE FUNCTION try_read() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM * FROM public.secrets;
	RETURN true;
END $$;
CREATE FUNCTION try_write() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.secrets VALUES (1);
	RETURN true;
END $$;
RESET ROLE;
GRANT EXECUTE ON FUNCTION set_retention(regclass, name, interval, text),
                          drop_retention(regclass) TO regress_owner, regress_stranger;
SET ROLE regress_owner;
SELECT set_retention('owned_cases', 'closed_at', '30 days', $$try_superuser()$$);
RESET ROLE;
-- purge() runs as a superuser here; the condition runs as regress_owner and fails
SELECT purge('owned_cases');
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
SELECT count(*) AS nothing_deleted FROM owned_cases;
SELECT outcome, error FROM purge_log WHERE table_name = 'owned_cases'::regclass;
SET ROLE regress_owner;
SELECT set_retention('owned_cases', 'closed_at', '30 days', $$try_read()$$);
RESET ROLE;
SELECT purge('owned_cases');
SET ROLE regress_owner;
SELECT set_retention('owned_cases', 'closed_at', '30 days', $$try_write()$$);
RESET ROLE;
SELECT purge('owned_cases');
SELECT count(*) AS secrets_untouched FROM secrets;
SELECT count(*) AS still_nothing_deleted FROM owned_cases;
-- with a harmless condition it purges, as the owner
SET ROLE regress_owner;
SELECT set_retention('owned_cases', 'closed_at', '30 days', $$status = 'resolved'$$);
RESET ROLE;
SELECT purge('owned_cases');
-- a role that does not own the table cannot set or drop its rule
SET ROLE regress_stranger;
SELECT set_retention('owned_cases', 'closed_at', '30 days');
SELECT drop_retention('owned_cases');
SELECT purge('owned_cases');
RESET ROLE;

-- a failing rule does not stop the others; the WARNING keeps the SQLSTATE
INSERT INTO owned_cases VALUES (99, now() - interval '100 days', 'resolved');
ALTER TABLE owned_cases DROP COLUMN status;
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1, 10) i;
SELECT purge() AS deleted_by_the_others;
\set VERBOSITY sqlstate
SELECT purge() AS nothing_left;
\set VERBOSITY default
SELECT table_name, outcome, started_by FROM purge_log WHERE outcome = 'failed' ORDER BY run_id DESC LIMIT 1;
SELECT last_outcome, last_error FROM retention_rules WHERE table_name = 'owned_cases'::regclass;
-- the same with CALL run_purge(), which commits each batch: the failure is
-- recorded, the other rules run, and nothing is left half done
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1, 10) i;
CALL run_purge();
SELECT count(*) AS visits_left_to_purge FROM visits WHERE visited_on < current_date - 7;
SELECT table_name, outcome, started_by FROM purge_log WHERE outcome = 'failed' ORDER BY run_id DESC LIMIT 1;
-- an error message can quote row data: only the table's owner sees it
SET ROLE regress_stranger;
SELECT last_outcome, last_error IS NULL AS error_hidden FROM retention_rules
 WHERE table_name = 'owned_cases'::regclass;
SELECT count(*) AS not_readable FROM retention_rule;
RESET ROLE;
GRANT SELECT ON purge_log TO regress_stranger, regress_owner;
SET ROLE regress_stranger;
SELECT outcome, error IS NULL AS error_hidden FROM purge_log WHERE outcome = 'failed' ORDER BY run_id DESC LIMIT 1;
SET ROLE regress_owner;
SELECT last_error IS NOT NULL AS owner_sees_it FROM retention_rules WHERE table_name = 'owned_cases'::regclass;
SELECT error IS NOT NULL AS owner_sees_it FROM purge_log WHERE outcome = 'failed' ORDER BY run_id DESC LIMIT 1;
RESET ROLE;
REVOKE SELECT ON purge_log FROM regress_stranger, regress_owner;
DROP TABLE owned_cases;
SELECT count(*) AS rule_gone_with_table FROM retention_rule WHERE relid::text = 'owned_cases';

-- run_maintenance(): every duty of the pass, in order
SELECT grant_consent('alice', 'personalization', 'trial', now() + interval '1 hour') > 0 AS granted;
UPDATE consent SET expires_at = now() - interval '1 minute' WHERE subject = 'alice';
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1, 3) i;
SELECT duty, position FROM maintenance_duty ORDER BY position;
SELECT * FROM run_maintenance();
SELECT subject, purpose, status FROM consents WHERE subject = 'alice';
SELECT action, source FROM consent_history WHERE subject = 'alice' ORDER BY event_id;
SELECT * FROM run_maintenance();    -- nothing more to do

-- the purge log is bounded by personalize.purge_log_keep
UPDATE purge_run SET finished_at = now() - interval '60 days' WHERE run_id = (SELECT min(run_id) FROM purge_run);
SELECT count(*) AS runs_before FROM purge_run \gset
SELECT affected AS trimmed FROM run_maintenance() WHERE duty = 'trim_purge_log';
SELECT count(*) = :runs_before - 1 AS oldest_run_trimmed FROM purge_run;

-- run_purge() commits each batch, so it cannot run in a transaction block
BEGIN;
CALL run_purge();
ROLLBACK;
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1, 4) i;
CALL run_purge('visits');
SELECT rows_deleted, started_by FROM purge_log WHERE table_name = 'visits'::regclass ORDER BY run_id DESC LIMIT 1;

-- personalize.purge_batch_delay pauses between two batches, not after the last
INSERT INTO visits SELECT i, 1, current_date - 20 FROM generate_series(1001, 1700) i;
SET personalize.purge_batch_size = 100;
SET personalize.purge_batch_delay = '50ms';
CALL run_purge('visits');
SELECT rows_deleted, batches >= 3 AS several_batches,
       finished_at - started_at >= (batches - 1) * interval '50 ms' AS paused_between,
       finished_at - started_at < batches * interval '50 ms' + interval '5 s' AS not_stuck
  FROM purge_log WHERE table_name = 'visits'::regclass ORDER BY run_id DESC LIMIT 1;
RESET personalize.purge_batch_size;
RESET personalize.purge_batch_delay;
\set VERBOSITY sqlstate
SET personalize.purge_batch_delay = -1;
\set VERBOSITY default
SET personalize.worker_purge_batch_delay = 0;   -- postgresql.conf only

-- a renamed time column is followed, as a renamed subject column is
ALTER TABLE cases RENAME COLUMN closed_at TO resolved_at;
SELECT time_column FROM retention_rules WHERE table_name = 'cases'::regclass;
INSERT INTO cases VALUES (90001, 1, 'resolved', now() - interval '100 days');
SELECT purge('cases') AS purged_after_rename;

-- a registered table without a rule is a review finding
SELECT drop_retention('cases');
SELECT drop_retention('cases');
SELECT severity, object, finding FROM review() WHERE finding LIKE '%retention%';

DROP TABLE cases, visits, events, secrets;
REVOKE ALL ON SCHEMA public FROM regress_owner;
DROP OWNED BY regress_owner, regress_stranger;
DROP ROLE regress_owner, regress_stranger;
