--
-- The background worker on a Citus cluster: the coordinator's scheduler
-- purges a distributed table, a reference table and a partitioned
-- distributed table, and expires consent, whose copies follow on
-- every node; the workers' schedulers have no rules and change nothing.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

CREATE TABLE sessions (session_id bigint, customer_id bigint NOT NULL,
                       started_at timestamptz NOT NULL, PRIMARY KEY (customer_id, session_id));
SELECT create_distributed_table('sessions', 'customer_id');
INSERT INTO sessions SELECT g, g % 300, now() - (g % 60) * interval '1 day' - interval '1 hour'
  FROM generate_series(1, 3000) g;
SELECT set_retention('sessions', 'started_at', '30 days');
SELECT count(*) FILTER (WHERE started_at < now() - interval '30 days') AS expired FROM sessions;
-- a reference table and a partitioned distributed table, whose rules the
-- worker runs as well
CREATE TABLE vouchers (code text PRIMARY KEY, customer_id bigint, issued_at timestamptz NOT NULL);
SELECT create_reference_table('vouchers');
INSERT INTO vouchers SELECT 'v' || g, g, now() - g * interval '1 day' FROM generate_series(1, 90) g;
SELECT set_retention('vouchers', 'issued_at', '30 days');
CREATE TABLE events (customer_id bigint NOT NULL, at timestamptz NOT NULL, kind text)
	PARTITION BY RANGE (at);
DO $$
BEGIN
	EXECUTE format('CREATE TABLE public.events_old PARTITION OF public.events FOR VALUES FROM (MINVALUE) TO (%L)',
	               date_trunc('day', now()) - interval '20 days');
	EXECUTE format('CREATE TABLE public.events_new PARTITION OF public.events FOR VALUES FROM (%L) TO (MAXVALUE)',
	               date_trunc('day', now()) - interval '20 days');
END
$$;
SELECT create_distributed_table('events', 'customer_id');
INSERT INTO events SELECT g % 100, now() - (g % 60) * interval '1 day' - interval '1 hour', 'view'
  FROM generate_series(1, 1200) g;
SELECT set_retention('events', 'at', '30 days');
-- a grant that expires while the worker runs
SELECT grant_consent('977', 'newsletter', expires_at => now() + interval '1 second') > 0 AS granted;

-- the worker, every second, on every node
SELECT result FROM run_command_on_all_nodes($$ALTER SYSTEM SET personalize.naptime = '1s'$$);
SELECT result FROM run_command_on_all_nodes($$ALTER SYSTEM SET personalize.enabled = on$$);
SELECT result FROM run_command_on_all_nodes($$SELECT pg_reload_conf()$$);

-- wait (at most a minute) until the coordinator's worker has purged, and
-- the expired grant is marked on every node
DO $$
BEGIN
	FOR i IN 1..240 LOOP
		IF NOT EXISTS (SELECT 1 FROM public.sessions WHERE started_at < now() - interval '30 days')
		   AND NOT EXISTS (SELECT 1 FROM public.vouchers WHERE issued_at < now() - interval '30 days')
		   AND NOT EXISTS (SELECT 1 FROM public.events WHERE at < now() - interval '30 days')
		   AND (SELECT state FROM personalize.consent WHERE subject = '977'
		         AND purpose_id = (SELECT purpose_id FROM personalize.purpose WHERE name = 'newsletter')) = 'e'
		THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.25);
	END LOOP;
	RAISE EXCEPTION 'the worker did not purge and expire within a minute';
END
$$;
SELECT count(*) AS left_expired FROM sessions WHERE started_at < now() - interval '30 days';
SELECT count(*) AS kept FROM sessions;
SELECT table_name, rows_deleted, outcome, started_by FROM purge_log
 WHERE table_name IN ('sessions'::regclass, 'vouchers'::regclass, 'events'::regclass)
 ORDER BY table_name::text;
SELECT count(*) AS vouchers_kept FROM vouchers;
SELECT count(*) AS events_kept, count(*) FILTER (WHERE at < now() - interval '30 days') AS events_expired
  FROM events;
SELECT result AS vouchers_on_node FROM run_command_on_all_nodes(
	$$SELECT count(*) FROM public.vouchers$$) ORDER BY nodeid;
SELECT result AS replica_state FROM run_command_on_all_nodes(
	$$SELECT state FROM personalize.consent_replica WHERE subject = '977'$$) ORDER BY nodeid;

-- with intents and signals placed with members (placement.sql), the
-- scheduler ships a write to its shard right after the commit, not a
-- naptime later
SELECT result FROM run_command_on_all_nodes($$ALTER SYSTEM SET personalize.naptime = '1h'$$);
SELECT result FROM run_command_on_all_nodes($$SELECT pg_reload_conf()$$);
SELECT pg_sleep(1);
SELECT state_intent('11', 'camping', 7);
DO $$
BEGIN
	FOR i IN 1..240 LOOP
		IF EXISTS (SELECT 1 FROM personalize.intent_by_subject
		            WHERE subject = '11' AND tag = 'camping' AND weight = 7) THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.25);
	END LOOP;
	RAISE EXCEPTION 'the worker did not ship the intent within a minute';
END
$$;
SELECT count(*) AS waiting FROM copy_outbox;

SELECT result AS purge_runs_on_worker FROM run_command_on_workers(
	$$SELECT count(*) FROM personalize.purge_run$$) ORDER BY nodeport;

SELECT result FROM run_command_on_all_nodes($$ALTER SYSTEM RESET personalize.enabled$$);
SELECT result FROM run_command_on_all_nodes($$ALTER SYSTEM RESET personalize.naptime$$);
SELECT result FROM run_command_on_all_nodes($$SELECT pg_reload_conf()$$);
