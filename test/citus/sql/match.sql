--
-- match() on a Citus cluster, as README's "Scale-out with Citus" says:
-- after distribute() (test/citus/sql/consent.sql), a match() over the rows
-- of a distributed table runs on the workers and reads the node's copies of
-- the offer catalog, the intents and the signals, kept in step by the
-- coordinator in the same distributed transaction.  Every answer equals
-- the coordinator's own, after every kind of change.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the catalog and the customers' data, all written after distribute()
SELECT count(define_tag(t)) FROM unnest(ARRAY['hiking', 'camping', 'coffee', 'tea']) t;
INSERT INTO offers (offer_id, title, priority)
VALUES ('boots', 'Boots', 1), ('tent', 'Tent', 2), ('mug', 'Mug', 0), ('kettle', 'Kettle', 0),
       ('sale', 'Sale', 5);
INSERT INTO offer_tags
VALUES ('boots', 'hiking', 1), ('tent', 'camping', 1), ('tent', 'hiking', 0.5),
       ('mug', 'coffee', 1), ('kettle', 'tea', 1), ('kettle', 'coffee', 0.3);
CREATE TABLE shoppers (customer_id text PRIMARY KEY, region text);
SELECT create_distributed_table('shoppers', 'customer_id');
INSERT INTO shoppers SELECT g::text, 'r' || g % 3 FROM generate_series(0, 99) g;
-- 0 to 79 consent to personalization; the others get the list for everyone
SELECT count(grant_consent(g::text, 'personalization')) FROM generate_series(0, 79) g;
SELECT count(state_intent(g::text, (ARRAY['hiking', 'camping', 'coffee', 'tea'])[1 + g % 4], 1 + g % 5))
  FROM generate_series(0, 99) g;
SELECT count(*) FILTER (WHERE record_signal(g::text, 'coffee', 'view', 0.5)) AS signals
  FROM generate_series(0, 99, 7) g;
SELECT count(state_intent(g::text, 'tea', -1)) AS avoid_tea FROM generate_series(0, 99, 11) g;

-- every copy equals its table on every node (times compared as epochs:
-- run_command_on_all_nodes's sessions have the nodes' time zone)
CREATE FUNCTION copies_differ() RETURNS TABLE (replica text, nodes_differing bigint)
LANGUAGE plpgsql AS $$
DECLARE
	source text;
	cols text;
	want text;
BEGIN
	FOREACH source IN ARRAY ARRAY['offers', 'offer_tags', 'tag', 'data_category', 'intent', 'signal',
	                              'match_catalog_version', 'match_catalog_change'] LOOP
		replica := source || '_replica';
		SELECT string_agg(CASE WHEN a.atttypid = 'timestamptz'::regtype
		                       THEN format('extract(epoch FROM %I)', a.attname)
		                       ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum) INTO cols
		  FROM pg_attribute a
		 WHERE a.attrelid = ('personalize.' || replica)::regclass AND a.attnum > 0;
		EXECUTE format('SELECT coalesce(md5(string_agg(r::text, %L ORDER BY r::text)), %L) FROM (SELECT row(%s) AS r FROM personalize.%I) t',
		               ',', 'empty', cols, source) INTO want;
		SELECT count(*) INTO nodes_differing
		  FROM run_command_on_all_nodes(format('SELECT coalesce(md5(string_agg(r::text, %L ORDER BY r::text)), %L) FROM (SELECT row(%s) AS r FROM personalize.%I) t',
		                                       ',', 'empty', cols, replica)) n
		 WHERE n.result IS DISTINCT FROM want;
		RETURN NEXT;
	END LOOP;
END
$$;
SELECT * FROM copies_differ();

-- the coordinator's answers, computed here (no Citus table in the query),
-- and the same match() over the distributed table, on the shards
CREATE FUNCTION coordinator_answers() RETURNS TABLE (customer_id text, offers text)
LANGUAGE sql AS $$
	SELECT g::text, string_agg(format('%s:%s:%s', m.offer_id, round(m.score::numeric, 4), array_to_string(m.reasons, '|')),
	                           ', ' ORDER BY m.ord)
	  FROM generate_series(0, 99) g, LATERAL match(g::text, 3) WITH ORDINALITY m(offer_id, score, reasons, ord)
	 GROUP BY g
$$;
CREATE FUNCTION compare() RETURNS TABLE (shoppers bigint, same bigint)
LANGUAGE sql AS $$
	WITH on_shards AS (
		SELECT s.customer_id,
		       string_agg(format('%s:%s:%s', m.offer_id, round(m.score::numeric, 4), array_to_string(m.reasons, '|')),
		                  ', ' ORDER BY m.ord) AS offers
		  FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) WITH ORDINALITY m(offer_id, score, reasons, ord)
		 GROUP BY s.customer_id)
	SELECT count(*), count(*) FILTER (WHERE d.offers IS NOT DISTINCT FROM c.offers)
	  FROM on_shards d FULL JOIN coordinator_answers() c USING (customer_id)
$$;
CREATE FUNCTION plan_says(query text, pattern text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line ~ pattern THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$$;

-- the lateral match() runs on the workers, in the shards' tasks
SELECT plan_says('SELECT m.* FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) m', 'Task Count: 32') AS distributed,
       plan_says('SELECT m.* FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) m', 'Function Scan on match') AS in_the_tasks;
SELECT * FROM coordinator_answers() WHERE customer_id IN ('0', '1', '2', '3', '4', '11', '80') ORDER BY 1;
SELECT * FROM compare();

-- changes committed on the coordinator bind the next statement everywhere:
-- an offer disabled, a withdrawal, a new intent, a purchase, an offer's tags
UPDATE offers SET enabled = false WHERE offer_id = 'boots';
SELECT count(*) AS boots FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) m WHERE m.offer_id = 'boots';
SELECT withdraw_consent('4', 'personalization') > 0 AS withdrawn;
SELECT state_intent('6', 'tea', 5);
SELECT record_purchase('2', 'mug');
SELECT s.customer_id, m.offer_id, round(m.score::numeric, 4) AS score, m.reasons
  FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 2) m
 WHERE s.customer_id IN ('2', '4', '6') ORDER BY 1, 3 DESC, 2;
INSERT INTO offer_tags VALUES ('sale', 'camping', 2);
SELECT * FROM compare();

-- the writer's own transaction sees its change on the shards when it runs
-- as the extension's owner, whose connections wrote the copies, over one
-- connection per node; a rollback undoes it
BEGIN;
SET LOCAL citus.max_adaptive_executor_pool_size = 1;
UPDATE offers SET enabled = true WHERE offer_id = 'boots';
SELECT count(*) AS boots_in_transaction FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) m WHERE m.offer_id = 'boots';
SELECT * FROM compare();
ROLLBACK;
SELECT count(*) AS boots_after_rollback FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 3) m WHERE m.offer_id = 'boots';

-- another role's statement inside the changing transaction runs on the
-- workers in local transactions that cannot see the change: refused,
-- never answered as before the change; committed, it is seen
CREATE ROLE citus_matcher LOGIN;
GRANT USAGE ON SCHEMA personalize TO citus_matcher;
GRANT EXECUTE ON FUNCTION state_intent(text, text, real), match(text, integer, integer, boolean) TO citus_matcher;
GRANT SELECT ON shoppers TO citus_matcher;
-- Citus does not carry grants on an extension's functions to the workers
SELECT result FROM run_command_on_workers(
	$$GRANT EXECUTE ON FUNCTION personalize.match(text, integer, integer, boolean) TO citus_matcher$$);
SET ROLE citus_matcher;
BEGIN;
SELECT state_intent('1', 'coffee', 9);
SELECT m.* FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 2) m WHERE s.customer_id = '1';
ROLLBACK;
SELECT state_intent('1', 'coffee', 9);
SELECT m.* FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 2) m WHERE s.customer_id = '1';
RESET ROLE;

-- forget() erases each registered table as its owner, which Citus cannot
-- do for colocated shards of two owners in one transaction: refused, with
-- nothing erased; with one owner, it erases the subject's rows, intents,
-- signals and consent on every node
SELECT forget('0');
SELECT count(*) AS intents_of_0 FROM intent WHERE subject = '0';
ALTER TABLE profiles OWNER TO shop_owner;
SELECT (forget('0') ->> 'intents')::int AS intents_erased;
SELECT m.* FROM shoppers s CROSS JOIN LATERAL match(s.customer_id, 2) m WHERE s.customer_id = '0';
SELECT * FROM copies_differ();
SELECT * FROM compare();

-- match() for one customer, delegated to the node of their shard
SELECT create_distributed_function('personalize.match(text,integer,integer,boolean)', 'subject',
                                   colocate_with := 'shoppers');
SET citus.log_remote_commands = on;
\set VERBOSITY terse
SELECT * FROM match('3', 2);
RESET citus.log_remote_commands;
\set VERBOSITY default
