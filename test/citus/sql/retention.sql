--
-- Retention on a Citus cluster: set_retention(), purge(), run_purge() and
-- the maintenance pass delete a distributed or reference table's expired
-- rows through Citus, on every shard, each row once, as the table's owner.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- 10,000 visits over 200 days, 32 shards; 250 of them at one instant; an
-- index on the time column (the keyset path of one server does not apply)
CREATE TABLE page_visits (visit_id bigint, customer_id bigint NOT NULL,
                          seen_at timestamptz NOT NULL, channel text NOT NULL,
                          PRIMARY KEY (customer_id, visit_id));
SELECT create_distributed_table('page_visits', 'customer_id');
INSERT INTO page_visits
SELECT g, g % 500, now() - (g % 200) * interval '1 day' - interval '1 hour',
       CASE WHEN g % 4 = 0 THEN 'store' ELSE 'web' END
  FROM generate_series(1, 10000) g;
INSERT INTO page_visits
SELECT 10000 + g, g, now() - interval '150 days', 'web' FROM generate_series(1, 250) g;
CREATE INDEX ON page_visits (seen_at);
SELECT count(*) FILTER (WHERE seen_at < now() - interval '90 days') AS expired,
       count(*) AS total FROM page_visits;

SELECT set_retention('page_visits', 'seen_at', '90 days');
-- batches of 100 rows to start with: time slices, one holding the 250 ties
SET personalize.purge_batch_size = 100;
SELECT purge('page_visits') AS purged;
SELECT count(*) FILTER (WHERE seen_at < now() - interval '90 days') AS expired_left,
       count(*) AS total FROM page_visits;
SELECT rows_deleted, outcome, batches > 1 AS in_batches
  FROM purge_log WHERE table_name = 'page_visits'::regclass ORDER BY run_id;
SELECT purge('page_visits') AS purged_again;
RESET personalize.purge_batch_size;

-- a rule with a condition, run as the procedure and the maintenance pass do
SELECT set_retention('page_visits', 'seen_at', '30 days', $$channel = 'store'$$);
SELECT count(*) AS store_expired FROM page_visits
 WHERE seen_at < now() - interval '30 days' AND channel = 'store';
CALL run_purge('page_visits');
SELECT count(*) FILTER (WHERE channel = 'store' AND seen_at < now() - interval '30 days') AS store_left,
       count(*) FILTER (WHERE channel = 'web' AND seen_at < now() - interval '30 days') AS web_kept
  FROM page_visits;
INSERT INTO page_visits VALUES (20001, 7, now() - interval '40 days', 'store');
SELECT duty, affected FROM run_maintenance() WHERE duty = 'purge';
SELECT count(*) AS store_left FROM page_visits
 WHERE channel = 'store' AND seen_at < now() - interval '30 days';

-- a reference table, its dates a date column
CREATE TABLE coupons (code text PRIMARY KEY, customer_id bigint, issued_on date NOT NULL);
SELECT create_reference_table('coupons');
INSERT INTO coupons SELECT 'c' || g, g, current_date - g FROM generate_series(1, 400) g;
SELECT set_retention('coupons', 'issued_on', '300 days');
SELECT purge('coupons') AS purged;
SELECT min(issued_on) >= current_date - 300 AS none_older, count(*) FROM coupons;
SELECT result AS rows_on_node FROM run_command_on_all_nodes(
	$$SELECT count(*) FROM public.coupons$$) ORDER BY nodeid;

-- every run is in the log and the ledger
SELECT table_name, rows_deleted, outcome FROM purge_log ORDER BY run_id;
