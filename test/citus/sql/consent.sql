--
-- Consent on a Citus cluster, as README's "Scale-out with Citus" says:
-- distribute() once on the coordinator, then has_consent() and
-- may_process() filter distributed tables on every shard, and a change
-- committed on the coordinator binds the next statement on every node.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- what every node holds, and whether it equals the coordinator's consent
CREATE FUNCTION replica_state() RETURNS TABLE (node text, consent_rows text, same text)
LANGUAGE sql AS $$
	SELECT CASE WHEN n.groupid = 0 THEN 'coordinator' ELSE 'worker ' || n.groupid END, r.result,
	       (SELECT s.result FROM run_command_on_all_nodes(
	            $q$SELECT md5(string_agg(subject || purpose_id || state::text || coalesce(extract(epoch FROM expires_at)::text, ''), ',' ORDER BY subject, purpose_id))
	                 FROM personalize.consent_replica$q$) s WHERE s.nodeid = n.nodeid)
	       = (SELECT md5(string_agg(subject || purpose_id || state::text || coalesce(extract(epoch FROM expires_at)::text, ''), ',' ORDER BY subject, purpose_id))
	            FROM personalize.consent)
	  FROM pg_dist_node n
	  JOIN run_command_on_all_nodes($q$SELECT count(*) FROM personalize.consent_replica$q$) r USING (nodeid)
	 ORDER BY n.groupid
$$;

-- the shop's data, distributed by customer
SET client_min_messages = warning;
SELECT define_purpose('newsletter', 'a weekly email', 'early access to sales', '{user.contact.email}');
SELECT define_purpose('analytics', 'measuring the shop', 'a better shop', '{}', lawful_basis => 'legitimate_interests');
RESET client_min_messages;
CREATE TABLE purchases (purchase_id bigint, customer_id bigint, total numeric,
                        PRIMARY KEY (customer_id, purchase_id));
SELECT create_distributed_table('purchases', 'customer_id');
INSERT INTO purchases SELECT g, g % 1000, 1 FROM generate_series(1, 10000) g;
SELECT count(grant_consent(g::text, 'newsletter')) FROM generate_series(0, 499) g;

-- README's "Scale-out with Citus", as written: distribute() copies consent
-- and purpose to every node
RESET search_path;
SELECT * FROM personalize.distribute();
SET search_path = public, personalize;
SELECT * FROM replica_state();

-- the filter runs on the workers' shards and reads the node's copy
SELECT count(*) AS consenting FROM purchases WHERE has_consent(customer_id, 'newsletter');
SELECT count(*) AS processable FROM purchases WHERE may_process(customer_id, 'analytics');

-- a withdrawal committed on the coordinator binds the next statement everywhere
SELECT withdraw_consent('7', 'newsletter') > 0 AS withdrawn;
SELECT count(*) AS consenting FROM purchases WHERE has_consent(customer_id, 'newsletter');
SELECT withdraw_consent('8', 'analytics') > 0 AS objected;
SELECT count(*) AS processable FROM purchases WHERE may_process(customer_id, 'analytics');

-- the writer's own transaction sees its change on the shards when it runs
-- as the extension's owner, whose connections wrote the copies, over one
-- connection per node; a rollback undoes it
BEGIN;
SET LOCAL citus.max_adaptive_executor_pool_size = 1;
SELECT withdraw_consent('9', 'newsletter') > 0 AS withdrawn;
SELECT count(*) AS consenting_in_transaction FROM purchases WHERE has_consent(customer_id, 'newsletter');
ROLLBACK;
SELECT count(*) AS consenting_after_rollback FROM purchases WHERE has_consent(customer_id, 'newsletter');

-- a grant, a consent that expires, a purpose defined after distribute()
SELECT grant_consent('600', 'newsletter') > 0 AS granted;
SELECT grant_consent('601', 'newsletter', expires_at => now() + interval '1 second') > 0 AS granted_until_soon;
SELECT pg_sleep(1.2);
SET client_min_messages = warning;
SELECT define_purpose('newsletter.weekly', 'the weekly edition', 'early access to sales',
                      parent => 'newsletter');
RESET client_min_messages;
SELECT withdraw_consent('11', 'newsletter.weekly') > 0 AS withdrawn;
SELECT count(*) AS consenting FROM purchases WHERE has_consent(customer_id, 'newsletter');
SELECT count(*) AS weekly FROM purchases WHERE has_consent(customer_id, 'newsletter.weekly');

-- forgetting a subject erases its consent on every node (visits, of
-- refusals.sql, has served: it leaves)
DROP TABLE visits;
SELECT forget('10') -> 'consents' AS forgotten_consents;
SELECT count(*) AS consenting FROM purchases WHERE has_consent(customer_id, 'newsletter');
SELECT * FROM replica_state();

-- run again, distribute() copies afresh and changes nothing
SELECT * FROM distribute() ORDER BY 1;
SELECT * FROM replica_state();

-- One statement per shard on a worker: a node keeps the consenting subjects
-- it loaded between statements and loads them again after a change or the
-- first expiry.  One shard per worker, 20 rows per customer: every shard
-- statement loads (or reuses) the node's copy.
SET citus.shard_count = 2;
CREATE TABLE visits_by_day (customer_id bigint, day integer);
SELECT create_distributed_table('visits_by_day', 'customer_id');
RESET citus.shard_count;
INSERT INTO visits_by_day SELECT g % 1000, g FROM generate_series(1, 20000) g;
SELECT count(*) AS consenting FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');
SELECT count(*) AS consenting_again FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');
SELECT withdraw_consent('12', 'newsletter') > 0 AS withdrawn;
SELECT count(*) AS consenting FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');
SELECT count(*) AS consenting_again FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');
SELECT grant_consent('950', 'newsletter', expires_at => now() + interval '4 seconds') > 0 AS granted_until_soon;
SELECT count(*) AS consenting FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');
SELECT pg_sleep(4.2);
SELECT count(*) AS after_expiry FROM visits_by_day WHERE has_consent(customer_id, 'newsletter');

-- Inside the transaction that changed consent, a statement of another role
-- over a distributed table runs on the workers in local transactions that
-- cannot see the change: refused, never answered as before the change
CREATE ROLE citus_app LOGIN;
GRANT USAGE ON SCHEMA personalize TO citus_app;
GRANT EXECUTE ON FUNCTION withdraw_consent(text, text, text) TO citus_app;
GRANT SELECT ON purchases TO citus_app;
SET ROLE citus_app;
BEGIN;
SELECT withdraw_consent('13', 'newsletter') > 0 AS withdrawn;
SELECT count(*) FROM purchases WHERE has_consent(customer_id, 'newsletter');
ROLLBACK;
-- the same when the workers run their statements in parallel workers
RESET ROLE;
SELECT result FROM run_command_on_workers(
	CASE WHEN current_setting('server_version_num')::int >= 160000
	     THEN 'ALTER SYSTEM SET debug_parallel_query = on'
	     ELSE 'ALTER SYSTEM SET force_parallel_mode = on' END);
SELECT result FROM run_command_on_workers('SELECT pg_reload_conf()');
SET ROLE citus_app;
BEGIN;
SELECT withdraw_consent('13', 'newsletter') > 0 AS withdrawn;
SELECT count(*) FROM purchases WHERE has_consent(customer_id, 'newsletter');
ROLLBACK;
RESET ROLE;
SELECT result FROM run_command_on_workers(
	CASE WHEN current_setting('server_version_num')::int >= 160000
	     THEN 'ALTER SYSTEM RESET debug_parallel_query'
	     ELSE 'ALTER SYSTEM RESET force_parallel_mode' END);
SELECT result FROM run_command_on_workers('SELECT pg_reload_conf()');
SET ROLE citus_app;
SELECT withdraw_consent('13', 'newsletter') > 0 AS withdrawn;
SELECT count(*) AS consenting FROM purchases WHERE has_consent(customer_id, 'newsletter');
RESET ROLE;

-- has_access() on the shards reads the copy of the grants: none here
SELECT count(*) AS accessible FROM purchases WHERE has_access('purchases', customer_id);
-- what cannot work says so
SELECT result FROM run_command_on_workers($$SELECT personalize.distribute()$$) ORDER BY nodeport;
CREATE ROLE citus_analyst;
SET ROLE citus_analyst;
SELECT * FROM personalize.distribute();
RESET ROLE;
DROP ROLE citus_analyst;
REVOKE ALL ON purchases FROM citus_app;
REVOKE ALL ON SCHEMA personalize FROM citus_app;
REVOKE ALL ON FUNCTION withdraw_consent(text, text, text) FROM citus_app;
DROP ROLE citus_app;
