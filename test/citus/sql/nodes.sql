--
-- A node added to the cluster: Citus copies the reference tables to it,
-- the copies of distribute() among them (written over Citus's own
-- connections, which the copies' guard lets through); a change on the
-- coordinator reaches it in the next statement, a distributed table's
-- shards placed on it answer the consent filter as the others do, and a
-- write by hand there is refused.  Intents placed with a table before the
-- node joined move with that table's shard to it, and match() there reads
-- them.
--
\set SHOW_CONTEXT never
\getenv spare_port CITUS_SPARE_PORT
SET search_path = public, personalize;
SET personalize.review_ddl = off;
SET client_min_messages = warning;
SELECT define_purpose('newsletter', 'a weekly email', 'early access to sales', '{user.contact.email}');
RESET client_min_messages;
SELECT count(grant_consent(g::text, 'newsletter')) AS consenting FROM generate_series(1, 40) g;

-- intents placed with a table of patrons (placement.sql) before the node
-- joins
SELECT define_tag('hiking', 'user.behavior'), define_tag('tea', 'user.behavior');
INSERT INTO offers (offer_id, title) VALUES ('boots', 'walking boots'), ('kettle', 'a kettle');
INSERT INTO offer_tags VALUES ('boots', 'hiking', 1), ('kettle', 'tea', 1);
CREATE TABLE patrons (patron_id bigint PRIMARY KEY);
SELECT create_distributed_table('patrons', 'patron_id');
INSERT INTO patrons SELECT g FROM generate_series(1, 40) g;
SELECT count(state_intent(g::text, CASE WHEN g % 2 = 0 THEN 'hiking' ELSE 'tea' END, 1 + g % 3)) AS intents
  FROM generate_series(1, 40) g;
SELECT count(*) AS copies FROM distribute(colocate_with => 'patrons');

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

-- the shard of patron 7 moved to the new node takes the shards of its
-- intents and signals along (colocated); match() there reads them, and a
-- write after the move is shipped there
CREATE FUNCTION patrons_compare() RETURNS TABLE (patrons bigint, same bigint)
LANGUAGE sql AS $$
	WITH on_shards AS (
		SELECT p.patron_id::text AS subject, string_agg(m.offer_id || ':' || array_to_string(m.reasons, '|'), ', ' ORDER BY m.offer_id) AS offers
		  FROM patrons p CROSS JOIN LATERAL personalize.match(p.patron_id::text, 2) m GROUP BY p.patron_id),
	on_coordinator AS (
		SELECT g::text AS subject, string_agg(m.offer_id || ':' || array_to_string(m.reasons, '|'), ', ' ORDER BY m.offer_id) AS offers
		  FROM generate_series(1, 40) g, LATERAL personalize.match(g::text, 2) m GROUP BY g)
	SELECT count(*), count(*) FILTER (WHERE d.offers IS NOT DISTINCT FROM c.offers)
	  FROM on_shards d FULL JOIN on_coordinator c USING (subject)
$$;
SELECT count(grant_consent(g::text, 'personalization')) AS personalized FROM generate_series(1, 40) g;
SELECT * FROM patrons_compare();
SELECT replicate_reference_tables(shard_transfer_mode => 'block_writes');
SELECT citus_move_shard_placement(s.shardid, s.nodename, s.nodeport, '127.0.0.1', :spare_port,
                                  shard_transfer_mode => 'block_writes')
  FROM citus_shards s
 WHERE s.shardid = get_shard_id_for_distribution_column('patrons', 7) AND s.nodeport <> :spare_port;
SELECT count(*) AS moved_with_it
  FROM citus_shards s
 WHERE s.nodeport = :spare_port
   AND s.shardid IN (get_shard_id_for_distribution_column('personalize.intent_by_subject', 7),
                     get_shard_id_for_distribution_column('personalize.signal_by_subject', 7));
SELECT state_intent('7', 'hiking', 9);
SELECT _ship_copies() AS shipped;
SELECT * FROM patrons_compare();
SELECT m.offer_id, m.reasons
  FROM patrons p CROSS JOIN LATERAL personalize.match(p.patron_id::text, 1) m
 WHERE p.patron_id = 7;
