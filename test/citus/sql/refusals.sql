--
-- What personalize does not support on Citus yet stops with an error that
-- names Citus, never with a wrong answer: here, before distribute() (which
-- test/citus/sql/consent.sql runs), and for the paths that do not reach
-- shards yet.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;
SET client_min_messages = warning;
SELECT define_purpose('marketing', 'emails about offers', 'early access to sales',
                      '{user.contact.email}');
RESET client_min_messages;
CREATE TABLE orders (order_id bigint, customer_id bigint, total numeric,
                     ordered_at timestamptz NOT NULL DEFAULT now(),
                     PRIMARY KEY (customer_id, order_id));
INSERT INTO orders (order_id, customer_id, total) SELECT g, g % 100, 1 FROM generate_series(1, 1000) g;
SELECT count(grant_consent(g::text, 'marketing')) FROM generate_series(0, 49) g;

-- a table local to the coordinator works as on any server
SELECT count(*) AS consenting_orders FROM orders WHERE has_consent(customer_id, 'marketing');

-- a distributed table: the filter runs on the workers, which refuse
SELECT create_distributed_table('orders', 'customer_id');
SELECT count(*) FROM orders WHERE has_consent(customer_id, 'marketing');
SELECT count(*) FROM orders WHERE may_process(customer_id, 'marketing');
-- match() for the customers of a distributed table runs on their shard
SELECT m.offer_id FROM orders o CROSS JOIN LATERAL match(o.customer_id::text, 1) m
 WHERE o.customer_id = 1;

-- a writer, or a subject's rights, per row of a distributed table would
-- act on a worker's local tables, which nothing reads
SELECT count(grant_consent(o.customer_id::text, 'marketing')) FROM orders o WHERE o.customer_id = 1;
SELECT count(state_intent(o.customer_id::text, 'anything')) FROM orders o WHERE o.customer_id = 1;
SELECT export_subject(o.customer_id::text) FROM orders o WHERE o.customer_id = 1;
SELECT forget(o.customer_id::text) FROM orders o WHERE o.customer_id = 1;
-- as the hint says: the keys first, the calls on the coordinator
WITH k AS MATERIALIZED (SELECT DISTINCT customer_id FROM orders WHERE customer_id BETWEEN 10 AND 12)
SELECT count(grant_consent(k.customer_id::text, 'marketing')) AS granted FROM k;

-- a table registered (with a rule) before it was distributed: its rule
-- now purges through Citus (test/citus/sql/retention.sql), protect() with
-- FORCE refuses (test/citus/sql/access.sql protects without)
CREATE TABLE visits (customer_id bigint, seen_at timestamptz NOT NULL DEFAULT now());
INSERT INTO visits SELECT g % 10, now() - interval '200 days' FROM generate_series(1, 100) g;
SELECT register_table('visits', 'customer_id');
SELECT set_retention('visits', 'seen_at', '90 days');
SELECT create_distributed_table('visits', 'customer_id');
SELECT protect('visits', force => true);

-- a table distributed by append: export_subject() and forget() read and
-- erase distributed and reference tables only (test/citus/sql/subjects.sql)
CREATE TABLE pageviews (customer_id bigint, seen_at timestamptz);
SELECT create_distributed_table('pageviews', 'customer_id', 'append');
SELECT register_table('pageviews', 'customer_id');
SELECT set_retention('pageviews', 'seen_at', '90 days');

-- nothing was recorded by the refusals: one purpose, 50 grants and the
-- three again through the CTE, and the table registered before it was
-- distributed (visits)
SELECT count(*) AS events FROM consent_event;
SELECT count(*) AS registered FROM subject_table;
