--
-- A node added to the cluster: Citus copies the reference tables to it,
-- the copies of distribute() among them (written over Citus's own
-- connections, which the copies' guard lets through); a change on the
-- coordinator reaches it in the next statement, a distributed table's
-- shards placed on it answer the consent filter as the others do, and a
-- write by hand there is refused.
--
\set SHOW_CONTEXT never
\getenv spare_port CITUS_SPARE_PORT
SET search_path = public, personalize;
SET personalize.review_ddl = off;
SET client_min_messages = warning;
SELECT define_purpose('newsletter', 'a weekly email', 'early access to sales', '{user.contact.email}');
RESET client_min_messages;
SELECT count(grant_consent(g::text, 'newsletter')) AS consenting FROM generate_series(1, 40) g;

SELECT citus_add_node('127.0.0.1', :spare_port) > 0 AS added;
SELECT nodeid, result AS consent_copied
  FROM run_command_on_all_nodes($$SELECT count(*) FROM personalize.consent_replica$$)
 ORDER BY nodeid;
SELECT withdraw_consent('7', 'newsletter') > 0 AS withdrawn;
SELECT nodeid, result AS state_of_7
  FROM run_command_on_all_nodes($$SELECT state FROM personalize.consent_replica WHERE subject = '7'$$)
 ORDER BY nodeid;

-- a table distributed after the node joined has shards on it
CREATE TABLE letters_sent (customer_id bigint, sent_at timestamptz DEFAULT now());
SELECT create_distributed_table('letters_sent', 'customer_id', colocate_with => 'none');
SELECT count(DISTINCT nodeport) AS nodes_with_shards,
       bool_or(nodeport = :spare_port) AS new_node_holds_shards
  FROM citus_shards WHERE table_name = 'letters_sent'::regclass;
INSERT INTO letters_sent (customer_id) SELECT g % 40 + 1 FROM generate_series(1, 400) g;
SELECT count(*) AS letters_to_consenting, count(DISTINCT customer_id) AS customers
  FROM letters_sent WHERE has_consent(customer_id, 'newsletter');

-- the copies on the new node refuse a write by hand
\set VERBOSITY terse
SELECT success, result FROM run_command_on_all_nodes($$DELETE FROM personalize.consent_replica$$)
 WHERE nodeid = (SELECT nodeid FROM pg_dist_node WHERE nodeport = :spare_port);
\set VERBOSITY default
