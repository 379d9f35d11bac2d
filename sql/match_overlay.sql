--
-- The catalog index under change: the overlay of changed offers, its fold
-- into a new index, and top-k pruning, each checked against a reference
-- implementation of the rule in SQL.  The catalog is large enough for
-- several blocks of offers (so that pruning has blocks to skip).
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.match_overlay_limit = 100000;

-- The rule in SQL: the k offers that score best for the subject, with
-- their scores, and every offer that might tie with the k-th (ov_top()
-- ranks them and cuts).
CREATE FUNCTION ov_ref(subj text, k integer, exclude_purchased boolean DEFAULT true)
RETURNS TABLE (offer_id text, score float8)
LANGUAGE sql STABLE AS $$
	WITH intents AS (
		SELECT i.tag, i.weight::float8 AS w FROM personalize.intent i WHERE i.subject = subj),
	signals AS (
		SELECT s.tag, s.weight * power(2::float8, -(greatest(extract(epoch FROM statement_timestamp() - s.at), 0)::float8
		                                           / extract(epoch FROM current_setting('personalize.signal_half_life')::interval)::float8)) AS w
		  FROM personalize.signal s WHERE s.subject = subj),
	aff AS (
		SELECT tag, sum(w) AS a FROM (SELECT * FROM intents UNION ALL SELECT * FROM signals) x
		 WHERE tag NOT IN (SELECT tag FROM intents WHERE w < 0)
		 GROUP BY tag HAVING sum(w) <> 0),
	scored AS (
		SELECT ot.offer_id, sum(aff.a * ot.weight) AS score
		  FROM aff JOIN personalize.offer_tags ot USING (tag)
		 GROUP BY ot.offer_id),
	answer AS (
		SELECT s.offer_id, s.score
		  FROM scored s JOIN personalize.offers o USING (offer_id)
		 WHERE personalize.has_consent(subj, 'personalization')
		   AND EXISTS (SELECT 1 FROM aff WHERE aff.a > 0)
		   AND s.score > 0 AND o.enabled
		   AND coalesce(o.starts_at <= statement_timestamp(), true)
		   AND coalesce(o.ends_at > statement_timestamp(), true)
		   AND s.offer_id NOT IN (SELECT x.offer_id FROM personalize.offer_tags x JOIN intents i USING (tag)
		                           WHERE i.w < 0)
		   AND NOT (exclude_purchased AND s.offer_id IN (
		            SELECT g.offer_id FROM personalize.signal g
		             WHERE g.subject = subj AND g.kind = 'purchase' AND g.offer_id IS NOT NULL)))
	SELECT a.offer_id, a.score FROM answer a
	 WHERE a.score >= (SELECT min(t.score) FROM (SELECT score FROM answer ORDER BY score DESC LIMIT k) t) * (1 - 1e-6)
$$;
-- The first k of a ranking, in the rule's order: by score, ties by
-- offer_id.  match() and the reference add the same float8 terms in other
-- orders (the reference in the order its plan reads the rows), so equal
-- scores can differ in their last bits, and rounding them to some decimals
-- does not make them equal again: a rounding boundary can fall between two
-- such neighbours.  So a score within 1e-9 of its size of the next higher
-- one ties with it.
CREATE FUNCTION ov_top(ids text[], scores float8[], k integer,
                       OUT top_ids text[], OUT top_scores float8[])
LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(t.id ORDER BY t.tie, t.id COLLATE "C"), array_agg(t.sc ORDER BY t.tie, t.id COLLATE "C")
	  FROM (SELECT c.id, c.sc, count(*) FILTER (WHERE c.apart) OVER (ORDER BY c.sc DESC, c.id COLLATE "C") AS tie
	          FROM (SELECT u.id, u.sc, lag(u.sc) OVER (ORDER BY u.sc DESC, u.id COLLATE "C") - u.sc > 1e-9 * u.sc AS apart
	                  FROM unnest(ids, scores) u(id, sc)) c
	         ORDER BY tie, c.id COLLATE "C" LIMIT k) t
$$;
-- match() and the reference for 15 subjects, in one statement each (so at
-- one statement time): the same first k offers in the same order, with the
-- same scores to 1e-9 of their size.  match() is read 10 rows further, in
-- case the last bits of its scores ordered a tie.
CREATE FUNCTION ov_compare(k integer DEFAULT 10)
RETURNS TABLE (subjects bigint, rows_compared bigint, mismatches bigint)
LANGUAGE sql VOLATILE AS $$
	SELECT count(*), sum(cardinality(ours.top_ids)),
	       count(*) FILTER (WHERE ours.top_ids IS DISTINCT FROM theirs.top_ids
	                           OR EXISTS (SELECT FROM unnest(ours.top_scores, theirs.top_scores) u(x, y)
	                                       WHERE NOT abs(x - y) <= 1e-9 * y))
	  FROM (SELECT 'ov' || i AS subj FROM generate_series(1, 40, 5) i UNION SELECT 'ov' || i FROM generate_series(1, 8) i
	        UNION SELECT 'ov-prune') s,
	       LATERAL (SELECT array_agg(m.offer_id) AS ids, array_agg(m.score) AS scores
	                  FROM personalize.match(s.subj, k + 10) m WHERE m.score IS NOT NULL) a,
	       LATERAL ov_top(a.ids, a.scores, k) ours,
	       LATERAL (SELECT array_agg(r.offer_id) AS ids, array_agg(r.score) AS scores
	                  FROM ov_ref(s.subj, k) r) b,
	       LATERAL ov_top(b.ids, b.scores, k) theirs
$$;
-- the non-personalized list of a subject without consent, against SQL
CREATE FUNCTION ov_compare_plain() RETURNS boolean
LANGUAGE sql VOLATILE AS $$
	SELECT (SELECT array_agg(m.offer_id) FROM personalize.match('ov-nobody', 40) m) =
	       (SELECT array_agg(o.offer_id ORDER BY o.priority DESC, o.offer_id COLLATE "C")
	          FROM (SELECT * FROM personalize.offers o WHERE o.enabled
	                   AND coalesce(o.starts_at <= statement_timestamp(), true)
	                   AND coalesce(o.ends_at > statement_timestamp(), true)
	                 ORDER BY o.priority DESC, o.offer_id COLLATE "C" LIMIT 40) o)
$$;
CREATE TEMP TABLE ov_info AS SELECT * FROM match_cache_info();
-- what changed in match_cache_info() since ov_info was taken
CREATE FUNCTION ov_since() RETURNS TABLE (rebuilt bigint, overlay_offers integer, fresh boolean)
LANGUAGE sql VOLATILE AS $$
	SELECT i.builds - o.builds, i.overlay_offers, i.fresh
	  FROM personalize.match_cache_info() i, ov_info o
$$;

-- 36,000 offers (three blocks) over 60 tags, skewed, 5 tags each
SELECT count(*) AS tags FROM (SELECT define_tag('ovt' || lpad(i::text, 2, '0')) FROM generate_series(1, 60) i) d;
INSERT INTO offers (offer_id, title, priority, starts_at, ends_at, enabled)
SELECT 'ov-' || lpad(i::text, 5, '0'), 'offer ' || i, i % 11,
       CASE WHEN i % 53 = 0 THEN now() + interval '1 day' END,
       CASE WHEN i % 47 = 0 AND i % 53 <> 0 THEN now() - interval '1 day' END,
       i % 59 <> 0
  FROM generate_series(1, 36000) i;
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT DISTINCT ON (1, 2) 'ov-' || lpad(i::text, 5, '0'),
       'ovt' || lpad((1 + floor(60 * power(((i * 7919 + j * 104729) % 1000) / 1000.0, 2)))::int::text, 2, '0'),
       (1 + (i * 31 + j * 7) % 4) * 0.5
  FROM generate_series(1, 36000) i, generate_series(1, 5) j;
SELECT count(*) FILTER (WHERE grant_consent('ov' || i, 'personalization') > 0) AS consenting
  FROM generate_series(1, 40) i;
SELECT count(*) AS intents FROM (
	SELECT state_intent('ov' || i, 'ovt' || lpad((1 + (i * 13 + j * 29) % 60)::text, 2, '0'),
	                    CASE WHEN j = 1 THEN -1 ELSE j % 4 + 1 END)
	  FROM generate_series(1, 40) i, generate_series(1, 6) j) s;
SELECT count(*) FILTER (WHERE kept) AS signals FROM (
	SELECT record_signal('ov' || i, 'ovt' || lpad((1 + (i * 31 + j * 17) % 60)::text, 2, '0'),
	                     (ARRAY['view', 'click', 'dismiss'])[1 + j % 3],
	                     CASE WHEN j % 3 = 2 THEN -0.5 ELSE 1 END,
	                     now() - (j * 3 + i % 5) * interval '1 day') AS kept
	  FROM generate_series(1, 40) i, generate_series(1, 8) j) s;
SELECT count(*) FILTER (WHERE kept) AS purchases FROM (
	SELECT record_purchase('ov' || i, 'ov-' || lpad((1 + (i * 97 + j * 389) % 36000)::text, 5, '0'), 1,
	                       now() - j * interval '5 days') AS kept
	  FROM generate_series(1, 40) i, generate_series(1, 3) j) s;
-- a subject whose best offers are all in the first block of offers: the
-- bounds of the later blocks (a common tag of weight 2 at most, times 1)
-- cannot beat the 10th score (above 20), and their postings are not read
SELECT define_tag('ovt-hot') \g /dev/null
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-' || lpad(i::text, 5, '0'), 'ovt-hot', 4 FROM generate_series(1, 20) i;
SELECT grant_consent('ov-prune', 'personalization') > 0 AS granted;
SELECT state_intent('ov-prune', 'ovt-hot', 5), state_intent('ov-prune', 'ovt01', 1) \g /dev/null

-- statistics now rather than whenever autovacuum comes by: the plans of
-- the reference, and so its time, do not depend on when that is
ANALYZE offers, offer_tags, intent, signal;

-- the index as built: answers as the rule says, and pruning skipped work
TRUNCATE ov_info;
INSERT INTO ov_info SELECT * FROM match_cache_info();
SELECT * FROM ov_compare();
SELECT * FROM ov_compare(50);
SELECT ov_compare_plain() AS plain_list_matches;
SELECT rebuilt FROM ov_since();
SELECT i.blocks_skipped > o.blocks_skipped AS pruning_skipped_blocks,
       i.postings_skipped > o.postings_skipped AS and_their_postings,
       i.postings_scored > o.postings_scored AS postings_scored
  FROM match_cache_info() i, ov_info o;
TRUNCATE ov_info;
INSERT INTO ov_info SELECT * FROM match_cache_info();
SELECT count(*) AS offers, min(score) AS tenth FROM match('ov-prune', 10);
SELECT i.blocks_skipped - o.blocks_skipped AS blocks_skipped, i.blocks_scored - o.blocks_scored AS blocks_scored
  FROM match_cache_info() i, ov_info o;

-- changes of every kind, committed: the overlay serves them, no rebuild
TRUNCATE ov_info;
INSERT INTO ov_info SELECT * FROM match_cache_info();
UPDATE offer_tags SET weight = 4 WHERE offer_id IN (SELECT 'ov-' || lpad((i * 613)::text, 5, '0') FROM generate_series(1, 50) i);
INSERT INTO offers (offer_id, title, priority)
SELECT 'ov-' || lpad((i * 700)::text, 5, '0') || 'a', 'between ' || i, 10 FROM generate_series(1, 40) i;
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-' || lpad((i * 700)::text, 5, '0') || 'a', 'ovt' || lpad((1 + i % 20)::text, 2, '0'), 3
  FROM generate_series(1, 40) i;
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-' || lpad((i * 700)::text, 5, '0') || 'a', 'ovt' || lpad((21 + i % 7)::text, 2, '0'), 1.5
  FROM generate_series(1, 40) i;
DELETE FROM offers WHERE offer_id IN (SELECT 'ov-' || lpad((i * 911)::text, 5, '0') FROM generate_series(1, 30) i);
UPDATE offers SET enabled = false WHERE offer_id IN (SELECT 'ov-' || lpad((i * 457)::text, 5, '0') FROM generate_series(1, 30) i);
UPDATE offers SET ends_at = now() - interval '1 hour' WHERE offer_id IN (SELECT 'ov-' || lpad((i * 379)::text, 5, '0') FROM generate_series(1, 30) i);
UPDATE offers SET priority = 50 WHERE offer_id IN (SELECT 'ov-' || lpad((i * 1201)::text, 5, '0') FROM generate_series(1, 20) i);
-- a new id for an offer: its tags follow (ON UPDATE CASCADE)
UPDATE offers SET offer_id = 'ov-renamed-' || offer_id WHERE offer_id IN (SELECT 'ov-' || lpad((i * 1733)::text, 5, '0') FROM generate_series(1, 20) i);
-- an offer bought and an offer that carries an avoided tag, both new
INSERT INTO offers (offer_id, title) VALUES ('ov-new-bought', 'Bought'), ('ov-new-avoided', 'Avoided');
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT o, t.tag, 2 FROM unnest(ARRAY['ov-new-bought', 'ov-new-avoided']) o,
       (SELECT tag FROM intent WHERE subject = 'ov1' AND weight > 0 ORDER BY weight DESC, tag LIMIT 2) t;
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-new-avoided', tag, 1 FROM intent WHERE subject = 'ov1' AND weight < 0;
SELECT record_purchase('ov1', 'ov-new-bought', 1);
SELECT * FROM ov_compare(30);
SELECT ov_compare_plain() AS plain_list_matches;
SELECT rebuilt, overlay_offers > 0 AS has_overlay, fresh FROM ov_since();
SELECT count(*) FILTER (WHERE offer_id IN ('ov-new-bought', 'ov-new-avoided')) AS bought_or_avoided_shown
  FROM match('ov1', 100);
SELECT count(*) FILTER (WHERE offer_id = 'ov-new-bought') AS bought_shown_when_asked
  FROM match('ov1', 10000, exclude_purchased => false);
SELECT count(*) AS capped FROM match('ov3', 20, per_tag_cap => 2);

-- a change applied as a replica (a logical replication subscriber,
-- pg_restore --disable-triggers) is logged too
SET session_replication_role = replica;
UPDATE offers SET enabled = false WHERE offer_id = (SELECT offer_id FROM match('ov1', 1));
INSERT INTO offers (offer_id, title) VALUES ('ov-replica', 'Replica');
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-replica', tag, 5 FROM intent WHERE subject = 'ov1' AND weight > 0;
RESET session_replication_role;
SELECT count(*) AS replica_offer_shown FROM match('ov1', 3) WHERE offer_id = 'ov-replica';
SELECT * FROM ov_compare();

-- our own open transaction sees its changes, a rolled-back savepoint
-- leaves no trace, and the rollback none
BEGIN;
UPDATE offer_tags SET weight = 0.5 WHERE offer_id IN (SELECT offer_id FROM match('ov2', 5));
INSERT INTO offers (offer_id, title) VALUES ('ov-00000-own', 'Own');
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT 'ov-00000-own', tag, 3 FROM intent WHERE subject = 'ov2' AND weight > 0;
SELECT * FROM ov_compare();
SELECT ov_compare_plain() AS plain_list_matches;
SAVEPOINT s;
DELETE FROM offers WHERE offer_id = 'ov-00000-own';
UPDATE offers SET enabled = false WHERE offer_id IN (SELECT offer_id FROM match('ov5', 3));
SELECT * FROM ov_compare(5);
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS own_offer_shown FROM match('ov2', 100) WHERE offer_id = 'ov-00000-own';
ROLLBACK;
SELECT count(*) AS own_offer_gone FROM match('ov2', 100) WHERE offer_id = 'ov-00000-own';
SELECT * FROM ov_compare();
SELECT rebuilt, overlay_offers > 0 AS has_overlay, fresh FROM ov_since();

-- past personalize.match_overlay_limit changed offers, the next match()
-- folds the overlay into a new index
SET personalize.match_overlay_limit = 10;
SELECT count(*) > 0 AS answered FROM match('ov1');
SELECT rebuilt, overlay_offers FROM ov_since();
SELECT * FROM ov_compare();
SELECT ov_compare_plain() AS plain_list_matches;
RESET personalize.match_overlay_limit;
SET personalize.match_overlay_limit = 100000;

-- a tag that leaves every ranking binds the next statement: the change
-- log marks a change to every offer, and the index is rebuilt
TRUNCATE ov_info;
INSERT INTO ov_info SELECT * FROM match_cache_info();
SELECT define_category('user.preference.ov_style', 'personal') \g /dev/null
UPDATE tag SET category = 'user.preference.ov_style'
 WHERE tag = (SELECT tag FROM intent WHERE subject = 'ov4' AND weight > 0 ORDER BY weight DESC, tag LIMIT 1);
UPDATE data_category SET demographic = true WHERE name = 'user.preference.ov_style';
SELECT count(*) AS demographic_tag_reasons
  FROM match('ov4', 50) m, unnest(m.reasons) r
 WHERE r LIKE '%' || (SELECT tag FROM tag WHERE category = 'user.preference.ov_style') || '%';
SELECT rebuilt, overlay_offers FROM ov_since();
-- (the reference knows nothing of refused tags: compare once it is back)
UPDATE data_category SET demographic = false WHERE name = 'user.preference.ov_style';
SELECT * FROM ov_compare();

-- TRUNCATE is a change to every offer too
BEGIN;
TRUNCATE offers CASCADE;
SELECT count(*) AS offers_left FROM match('ov1');
ROLLBACK;
SELECT * FROM ov_compare();

-- the change log: one row per offer and statement, NULL for everything
SELECT count(*) > 0 AS logged, count(*) FILTER (WHERE offer_id IS NULL) > 0 AS some_everything
  FROM match_catalog_change;
SELECT has_table_privilege('public', 'personalize.match_catalog_change', 'SELECT') AS public_reads_log;

RESET personalize.match_overlay_limit;
RESET search_path;
