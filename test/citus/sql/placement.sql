--
-- Intents and signals placed with the shop's customers:
-- distribute(colocate_with => 'members') distributes their copies by
-- subject with that table, so that a write is a row in the coordinator's
-- outbox and, after its commit, one shard's write; match() over members
-- reads the subject's shard on its node.  The placement, the shipping
-- (by hand here: the worker is off until worker.sql, which ships on
-- commit), the refusals, and the way back to reference tables.  The tests
-- after this one run placed.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

CREATE TABLE members (member_id bigint PRIMARY KEY, region text);
SELECT create_distributed_table('members', 'member_id');
INSERT INTO members SELECT g, 'r' || g % 3 FROM generate_series(0, 99) g;

-- only with a hash-distributed table; a key of another type keeps
-- reference tables, with a NOTICE
CREATE TABLE regions (region text PRIMARY KEY);
SELECT create_reference_table('regions');
SELECT count(*) FROM distribute(colocate_with => 'regions');
CREATE TABLE local_members (member_id bigint PRIMARY KEY);
SELECT count(*) FROM distribute(colocate_with => 'local_members');
CREATE TABLE baskets (basket numeric PRIMARY KEY);
SELECT create_distributed_table('baskets', 'basket');
SELECT count(*) AS copies FROM distribute(colocate_with => 'baskets');
SELECT to_regclass('personalize.intent_by_subject') AS intent_by_subject;

-- a subject that is not a bigint cannot be placed: refused, nothing changed
SELECT grant_consent('guest-17', 'personalization') > 0 AS granted;
SELECT state_intent('guest-17', 'hiking', 1);
SELECT count(*) FROM distribute(colocate_with => 'members');
SELECT to_regclass('personalize.intent_by_subject') AS intent_by_subject;
SELECT clear_intent('guest-17') AS cleared;

-- placed: the copies distributed with members, the reference copies empty
SELECT (SELECT count(*) FROM intent) AS intents, (SELECT count(*) FROM signal) AS signals \gset
SELECT replica, source,
       rows_copied = CASE WHEN source = 'intent'::regclass THEN :intents ELSE :signals END AS copied_all
  FROM distribute(colocate_with => 'members') WHERE replica::text ~ '(intent|signal)';
SELECT p.logicalrelid::text AS copy, p.partmethod,
       p.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'members'::regclass)
       AS with_members
  FROM pg_dist_partition p
 WHERE p.logicalrelid::text ~ '(intent|signal)_(replica|by_subject)$'
 ORDER BY 1;
SELECT (SELECT count(*) FROM intent_replica) AS intent_replica_rows,
       (SELECT count(*) FROM signal_replica) AS signal_replica_rows;
-- each subject's rows in the shard of its member, on the same node
SELECT count(*) AS subjects,
       count(*) FILTER (WHERE (SELECT nodeport FROM citus_shards
                                WHERE shardid = get_shard_id_for_distribution_column('personalize.intent_by_subject', i.subject))
                            = (SELECT nodeport FROM citus_shards
                                WHERE shardid = get_shard_id_for_distribution_column('members', i.subject)))
       AS beside_their_member
  FROM (SELECT DISTINCT subject FROM intent) i;
-- only the extension writes them
UPDATE intent_by_subject SET weight = 100;
DELETE FROM copy_outbox;
SELECT result FROM run_command_on_workers($$DELETE FROM personalize.intent_by_subject$$) ORDER BY nodeport;

-- the copies and match() on the shards against the coordinator
CREATE FUNCTION placed_copies_differ() RETURNS TABLE (intents bigint, signals bigint, waiting bigint)
LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM ((SELECT subject, tag, weight FROM personalize.intent
	                               EXCEPT SELECT subject, tag, weight FROM personalize.intent_by_subject)
	                              UNION ALL
	                              (SELECT subject, tag, weight FROM personalize.intent_by_subject
	                               EXCEPT SELECT subject, tag, weight FROM personalize.intent)) d),
	       (SELECT count(*) FROM ((SELECT signal_id, subject, tag, kind, weight, at, offer_id FROM personalize.signal
	                               EXCEPT SELECT signal_id, subject, tag, kind, weight, at, offer_id FROM personalize.signal_by_subject)
	                              UNION ALL
	                              (SELECT signal_id, subject, tag, kind, weight, at, offer_id FROM personalize.signal_by_subject
	                               EXCEPT SELECT signal_id, subject, tag, kind, weight, at, offer_id FROM personalize.signal)) d),
	       (SELECT count(*) FROM personalize.copy_outbox)
$$;
CREATE FUNCTION members_compare() RETURNS TABLE (members bigint, same bigint)
LANGUAGE sql AS $$
	WITH on_shards AS (
		SELECT s.member_id::text AS customer_id,
		       string_agg(format('%s:%s:%s', m.offer_id, round(m.score::numeric, 4), array_to_string(m.reasons, '|')),
		                  ', ' ORDER BY m.ord) AS offers
		  FROM members s CROSS JOIN LATERAL personalize.match(s.member_id::text, 3) WITH ORDINALITY m(offer_id, score, reasons, ord)
		 GROUP BY s.member_id),
	on_coordinator AS (
		SELECT g::text AS customer_id,
		       string_agg(format('%s:%s:%s', m.offer_id, round(m.score::numeric, 4), array_to_string(m.reasons, '|')),
		                  ', ' ORDER BY m.ord) AS offers
		  FROM generate_series(0, 99) g, LATERAL personalize.match(g::text, 3) WITH ORDINALITY m(offer_id, score, reasons, ord)
		 GROUP BY g)
	SELECT count(*), count(*) FILTER (WHERE d.offers IS NOT DISTINCT FROM c.offers)
	  FROM on_shards d FULL JOIN on_coordinator c USING (customer_id)
$$;
SELECT * FROM placed_copies_differ();
SELECT * FROM members_compare();

-- a write is a row of the outbox; the copies follow once it is shipped
SELECT state_intent('7', 'camping', 4);
SELECT record_signal('7', 'camping', 'view');
SELECT op, copy, row ->> 'subject' AS subject, row ->> 'tag' AS tag FROM copy_outbox ORDER BY seq;
SELECT * FROM placed_copies_differ();
SELECT * FROM members_compare();
SELECT _ship_copies() AS shipped;
SELECT * FROM placed_copies_differ();
SELECT * FROM members_compare();
-- a subject that is not a member's key: refused with the write
SELECT state_intent('guest-17', 'hiking', 1);
SELECT record_signal('guest-17', 'hiking', 'view');
SELECT count(*) AS intents_of_guest FROM intent WHERE subject = 'guest-17';

-- many changes to one row ship as its last; a statement over many rows,
-- a withdrawal, forget() and a TRUNCATE ship as well
SELECT count(state_intent('8', 'tea', w)) AS restated FROM generate_series(1, 20) w;
UPDATE intent SET weight = weight + 1 WHERE tag = 'hiking';
SELECT withdraw_consent('9', 'personalization') > 0 AS withdrawn;
SELECT (forget('10') ->> 'intents')::int AS intents_of_10;
SELECT count(*) AS waiting FROM copy_outbox;
SELECT _ship_copies() AS shipped;
SELECT * FROM placed_copies_differ();
SELECT * FROM members_compare();
SELECT count(*) AS copy_rows_of_10 FROM intent_by_subject WHERE subject = '10';
BEGIN;
TRUNCATE signal;
SELECT _ship_copies() AS shipped;
SELECT count(*) AS signal_copy_rows FROM signal_by_subject;
ROLLBACK;
SELECT * FROM placed_copies_differ();

-- on a worker, match() reads a subject only where its shard is (a call
-- of its own, not delegated: match.sql distributed the function with
-- shoppers, whose text keys Citus places otherwise; and not over VALUES,
-- which makes Citus 13.2.2's delegation of a distributed function crash
-- the backend)
SELECT nodeport = (SELECT nodeport FROM citus_shards
                    WHERE shardid = get_shard_id_for_distribution_column('members', 7)) AS holds_7,
       result
  FROM run_command_on_workers($$SELECT count(*) FROM (SELECT '7'::text AS s OFFSET 0) v,
                                       LATERAL personalize.match(v.s, 3) m$$)
 ORDER BY 1;

-- back to reference tables, and placed again for the tests after this one
SELECT count(*) AS copies FROM distribute();
SELECT to_regclass('personalize.intent_by_subject') AS intent_by_subject;
SELECT (SELECT count(*) FROM intent_replica) = (SELECT count(*) FROM intent) AS intents_copied;
SELECT state_intent('7', 'camping', 5);
SELECT count(*) AS waiting FROM copy_outbox;
SELECT weight FROM intent_replica WHERE subject = '7' AND tag = 'camping';
SELECT count(*) AS copies FROM distribute(colocate_with => 'members');
SELECT * FROM placed_copies_differ();
SELECT * FROM members_compare();
