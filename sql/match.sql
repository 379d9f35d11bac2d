--
-- Intent matching: match(), the offer catalog, model_card(), match_exposure()
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
-- the customer table below has personal-looking columns on purpose
SET personalize.review_ddl = off;
SET personalize.signal_half_life = '14d';
-- signal ages are absolute: "now() - 28 days" must not cross a DST change
SET TimeZone = 'UTC';

--------------------------------------------------------------------------
-- the catalog
--------------------------------------------------------------------------
-- an empty catalog: nothing to offer, to anyone
SELECT count(*) AS offers FROM match('alice');
SELECT count(*) AS offers FROM match('alice', 10, per_tag_cap => 1);
SELECT define_tag('running', description => 'running and jogging'),
       define_tag('trail-running'),
       define_tag('yoga'),
       define_tag('cooking', description => 'cooking at home'),
       define_tag('vegan'),
       define_tag('camping'),
       define_tag('books') \g /dev/null

INSERT INTO offers (offer_id, title, priority, starts_at, ends_at, enabled) VALUES
	('shoes',    'Running shoes, 20% off',   5, NULL, NULL, true),
	('trail',    'Trail shoes',              1, NULL, NULL, true),
	('mat',      'Yoga mat',                 3, NULL, NULL, true),
	('pan',      'Cast iron pan',            2, NULL, NULL, true),
	('burger',   'Vegan burger kit',         9, NULL, NULL, true),
	('tent',     'Two-person tent',          4, NULL, NULL, true),
	('novel',    'Summer novels',            0, NULL, NULL, true),
	('expired',  'Last year''s running sale', 8, '2020-01-01', '2020-02-01', true),
	('future',   'Next year''s running sale', 8, '2999-01-01', NULL, true),
	('disabled', 'Pulled running offer',     8, NULL, NULL, false);
INSERT INTO offer_tags (offer_id, tag, weight) VALUES
	('shoes', 'running', 2),
	('trail', 'running', 1), ('trail', 'trail-running', 2),
	('mat', 'yoga', 1),
	('pan', 'cooking', 1.5), ('pan', 'vegan', 0.5),
	('burger', 'vegan', 1), ('burger', 'cooking', 1),
	('tent', 'camping', 1), ('tent', 'trail-running', 0.5),
	('novel', 'books', 1),
	('expired', 'running', 5), ('future', 'running', 5), ('disabled', 'running', 5);

--------------------------------------------------------------------------
-- scoring: (intent + decayed signals) x offer tag weight, summed over tags
--------------------------------------------------------------------------
SELECT grant_consent('alice', 'personalization', 'preference centre') > 0 AS alice_agrees;
SELECT state_intent('alice', 'running', 2),
       state_intent('alice', 'yoga', 1),
       state_intent('alice', 'vegan', -1) \g /dev/null
-- a view two half-lives ago counts a quarter, a click one half-life ago half
SELECT record_signal('alice', 'trail-running', 'view', 1, now() - interval '28 days'),
       record_signal('alice', 'trail-running', 'click', 1, now() - interval '14 days'),
       record_signal('alice', 'camping', 'view', 2, now()) \g /dev/null
-- shoes 2x2 = 4; trail 2x1 + (0.25 + 0.5)x2 = 3.5; tent 2x1 + 0.75x0.5 = 2.375;
-- mat 1x1; burger and pan carry "vegan", which alice avoids; the expired,
-- future and disabled offers never appear
SELECT offer_id, round(score::numeric, 4) AS score, reasons FROM match('alice');
-- k limits the answer; ties and order are the same as the full answer
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 2);

-- the half-life is a setting: with 28 days the signals count more
-- (trail: 2 + (2^-1 + 2^-0.5) x 2 = 4.4142)
SET personalize.signal_half_life = '28d';
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice') WHERE offer_id IN ('trail', 'tent');
RESET personalize.signal_half_life;
SET personalize.signal_half_life = '14d';

-- reasons name the contributing tags, largest first, in a customer's words
SELECT grant_consent('bob', 'personalization', 'app') > 0 AS bob_agrees;
SELECT state_intent('bob', 'cooking', 1) \g /dev/null
SELECT record_signal('bob', 'vegan', 'purchase', 1, now() - interval '1 hour'),
       record_signal('bob', 'vegan', 'view', 3, now() - interval '1 hour'),
       record_signal('bob', 'books', 'bookmark', 1, now()),
       record_signal('bob', 'camping', 'dismiss', -2, now()),
       record_signal('bob', 'trail-running', 'view', 1, now()) \g /dev/null
SELECT offer_id, round(score::numeric, 4) AS score, reasons FROM match('bob');
-- a tag's words come from its description; changing it changes the reasons
UPDATE tag SET description = 'plant-based food' WHERE tag = 'vegan';
SELECT offer_id, reasons FROM match('bob', 1);

-- an offer needs an id and a title that are more than white space
\set VERBOSITY terse
INSERT INTO offers (offer_id, title) VALUES (E'\t', 'Tab');
INSERT INTO offers (offer_id, title) VALUES ('blank-title', U&'\00A0');
\set VERBOSITY default

--------------------------------------------------------------------------
-- ties are broken by offer_id, bytewise
--------------------------------------------------------------------------
INSERT INTO offers (offer_id, title) VALUES ('b-book', 'B'), ('a-book', 'A'), ('B-book', 'upper case B'), ('c-book', 'C');
INSERT INTO offer_tags (offer_id, tag) VALUES ('b-book', 'books'), ('a-book', 'books'), ('B-book', 'books'), ('c-book', 'books');
SELECT grant_consent('reader', 'personalization') > 0 AS reader_agrees;
SELECT state_intent('reader', 'books', 1) \g /dev/null
SELECT offer_id, score FROM match('reader');
SELECT offer_id, score FROM match('reader', 2);

--------------------------------------------------------------------------
-- exclusions: purchases, avoided tags, the active window
--------------------------------------------------------------------------
SELECT record_purchase('alice', 'shoes', 1, now() - interval '14 days') AS kept;
SELECT tag, kind, weight, offer_id FROM signal WHERE subject = 'alice' AND kind = 'purchase';
-- and it is part of what the subject gets back from export_subject()
SELECT s ->> 'tag' AS tag, s ->> 'offer_id' AS offer_id
  FROM jsonb_array_elements(export_subject('alice') -> 'signals') AS s
 WHERE s ->> 'kind' = 'purchase';
-- a purchase is one signal, on the offer's main tag (highest weight, then name)
SELECT grant_consent('erin', 'personalization') > 0 AS erin_agrees;
SELECT record_purchase('erin', 'trail') AND record_purchase('erin', 'pan') AS kept;
SELECT tag, kind, offer_id FROM signal WHERE subject = 'erin' ORDER BY offer_id;
-- bought: left out by default, whenever it was bought ...
SELECT offer_id, round(score::numeric, 4) AS score, reasons FROM match('alice');
-- ... unless asked; the purchase itself counts as behaviour on its tags
SELECT offer_id, round(score::numeric, 4) AS score, reasons FROM match('alice', exclude_purchased => false);
-- an avoided tag removes every offer that carries it, however high it scores
SELECT state_intent('alice', 'cooking', 10) \g /dev/null
SELECT offer_id FROM match('alice', 100) WHERE offer_id IN ('pan', 'burger');
SELECT clear_intent('alice', 'vegan') AS cleared;
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 100) WHERE offer_id IN ('pan', 'burger');
SELECT state_intent('alice', 'vegan', -1), clear_intent('alice', 'cooking') \g /dev/null
-- the window is judged at the statement's start; a disabled offer is never shown
UPDATE offers SET ends_at = now() - interval '1 second' WHERE offer_id = 'mat';
SELECT count(*) AS mat_shown FROM match('alice', 100) WHERE offer_id = 'mat';
UPDATE offers SET ends_at = NULL, starts_at = now() + interval '1 hour' WHERE offer_id = 'mat';
SELECT count(*) AS mat_shown FROM match('alice', 100) WHERE offer_id = 'mat';
UPDATE offers SET starts_at = now() - interval '1 hour', enabled = false WHERE offer_id = 'mat';
SELECT count(*) AS mat_shown FROM match('alice', 100) WHERE offer_id = 'mat';
UPDATE offers SET enabled = true WHERE offer_id = 'mat';
SELECT count(*) AS mat_shown FROM match('alice', 100) WHERE offer_id = 'mat';
SELECT count(*) AS inactive_shown
  FROM (VALUES ('alice'), ('bob'), ('reader'), ('nobody')) s(subject),
       LATERAL match(s.subject, 10000) m
 WHERE m.offer_id IN ('expired', 'future', 'disabled');

--------------------------------------------------------------------------
-- diversity: at most per_tag_cap offers with the same main reason
--------------------------------------------------------------------------
INSERT INTO offers (offer_id, title) VALUES ('socks', 'Running socks'), ('cap', 'Running cap');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('socks', 'running', 1.5), ('cap', 'running', 1.25);
SELECT offer_id, round(score::numeric, 4) AS score, reasons[1] AS main_reason FROM match('alice', 4);
SELECT offer_id, round(score::numeric, 4) AS score, reasons[1] AS main_reason FROM match('alice', 4, per_tag_cap => 1);
SELECT offer_id, round(score::numeric, 4) AS score, reasons[1] AS main_reason FROM match('alice', 4, per_tag_cap => 2);

--------------------------------------------------------------------------
-- no personalization without consent
--------------------------------------------------------------------------
-- the non-personalized list: enabled offers in their window, by priority, then offer_id
SELECT offer_id, score, reasons FROM match('carol', 5);
-- an unknown subject gets the same list, not an error
SELECT (SELECT array_agg(offer_id) FROM match('carol', 100)) =
       (SELECT array_agg(offer_id) FROM match('no such customer', 100)) AS same_list;
-- carol states interests, but has not consented: nothing changes
CREATE TEMP TABLE before AS SELECT * FROM match('carol', 100);
SELECT state_intent('carol', 'camping', 5), state_intent('carol', 'books', -1),
       state_intent('carol', 'running', 3) \g /dev/null
SELECT record_signal('carol', 'camping', 'view') AS kept;   -- not kept: no consent
SELECT count(*) AS differences FROM (
	(SELECT * FROM before EXCEPT SELECT * FROM match('carol', 100))
	UNION ALL
	(SELECT * FROM match('carol', 100) EXCEPT SELECT * FROM before)) d;
-- ... because her intents and signals are not even read
-- (the statistics counters of this transaction, before and after)
BEGIN;
CREATE TEMP TABLE reads AS
	SELECT relname, idx_scan, seq_scan FROM pg_stat_xact_user_tables
	 WHERE relid IN ('personalize.intent'::regclass, 'personalize.signal'::regclass);
SELECT count(*) AS rows FROM match('carol', 100);
SELECT s.relname, s.idx_scan - r.idx_scan AS index_scans, s.seq_scan - r.seq_scan AS seq_scans
  FROM pg_stat_xact_user_tables s JOIN reads r USING (relname)
 WHERE s.relid IN ('personalize.intent'::regclass, 'personalize.signal'::regclass) ORDER BY 1;
-- (alice has consent: one index scan of each)
SELECT count(*) AS rows FROM match('alice', 100);
SELECT s.relname, s.idx_scan - r.idx_scan AS index_scans, s.seq_scan - r.seq_scan AS seq_scans
  FROM pg_stat_xact_user_tables s JOIN reads r USING (relname)
 WHERE s.relid IN ('personalize.intent'::regclass, 'personalize.signal'::regclass) ORDER BY 1;
DROP TABLE reads;
COMMIT;
-- once carol agrees, her interests count; when she withdraws, they stop counting
SELECT grant_consent('carol', 'personalization') > 0 AS carol_agrees;
SELECT offer_id, round(score::numeric, 4) AS score, reasons FROM match('carol', 3);
SELECT withdraw_consent('carol', 'personalization') > 0 AS carol_withdraws;
SELECT count(*) AS differences FROM (
	(SELECT * FROM before EXCEPT SELECT * FROM match('carol', 100))
	UNION ALL
	(SELECT * FROM match('carol', 100) EXCEPT SELECT * FROM before)) d;

-- a consenting subject with nothing to go on gets the non-personalized
-- list, less what they avoid and bought
SELECT grant_consent('dave', 'personalization') > 0 AS dave_agrees;
SELECT offer_id, reasons FROM match('dave', 3);
SELECT state_intent('dave', 'vegan', -1) \g /dev/null
SELECT offer_id, reasons FROM match('dave', 3);
-- ... and one whose interests no current offer carries is told so
SELECT define_tag('sailing') \g /dev/null
SELECT state_intent('dave', 'sailing', 1) \g /dev/null
SELECT offer_id, reasons FROM match('dave', 3);

--------------------------------------------------------------------------
-- demographics cannot move a ranking
--------------------------------------------------------------------------
CREATE TABLE customers (
	customer_id bigint PRIMARY KEY,
	gender      text,
	birth_year  integer,
	postal_code text,
	ethnicity   text
);
SELECT register_table('customers', 'customer_id');
SELECT classify('customers', 'customer_id', 'user.unique_id'),
       classify('customers', 'gender', 'user.demographic.gender'),
       classify('customers', 'birth_year', 'user.demographic.date_of_birth'),
       classify('customers', 'postal_code', 'user.contact.address.postal_code'),
       classify('customers', 'ethnicity', 'user.demographic.race_ethnicity') \g /dev/null
INSERT INTO customers
SELECT i, CASE WHEN i % 2 = 0 THEN 'f' ELSE 'm' END, 1950 + i % 50,
       lpad((10000 + (i * 37) % 900)::text, 5, '0'), (ARRAY['a', 'b', 'c'])[1 + i % 3]
  FROM generate_series(1, 40) i;
-- interests that differ by customer (and, on purpose, correlate with gender)
SELECT count(*) FILTER (WHERE grant_consent(i::text, 'personalization') > 0) AS consenting
  FROM generate_series(1, 36) i;
SELECT count(*) AS intents FROM (
	SELECT state_intent(i::text, CASE WHEN i % 2 = 0 THEN 'yoga' ELSE 'running' END, 1 + i % 3),
	       state_intent(i::text, (ARRAY['books', 'camping', 'cooking'])[1 + i % 3], 1)
	  FROM generate_series(1, 40) i) s;
CREATE FUNCTION all_answers() RETURNS TABLE (customer_id bigint, answer text)
LANGUAGE sql AS $$
	SELECT c.customer_id, string_agg(m.offer_id || ':' || coalesce(m.score::text, '-') || ':' || m.reasons::text, ' ' ORDER BY m.ord)
	  FROM customers c, LATERAL match(c.customer_id::text, 5) WITH ORDINALITY m(offer_id, score, reasons, ord)
	 GROUP BY c.customer_id
$$;
CREATE TEMP TABLE answers_before AS SELECT * FROM all_answers();
SELECT count(DISTINCT answer) AS distinct_answers, count(*) AS customers FROM answers_before;
-- the exposure audit (the 80% rule) by a classified sensitive column
-- shows what the interests did: "f" customers (even numbers) like yoga,
-- "m" customers running; customers 37 to 40 have no consent
SELECT offer_id, group_value, subjects, shown, round(exposure::numeric, 3) AS exposure,
       round(impact_ratio::numeric, 3) AS impact_ratio, disparate_impact
  FROM match_exposure('customers', 'gender', 2)
 ORDER BY offer_id, group_value;
SELECT match_exposure('customers', 'customer_id');
SELECT match_exposure('customers', 'no_such_column');
SELECT match_exposure('offers', 'title');
SELECT match_exposure(999999::oid::regclass, 'gender');
CREATE TABLE visitors (visitor_id text, region text);
SELECT register_table('visitors', 'visitor_id');
SELECT match_exposure('visitors', 'region');
SELECT match_exposure('customers', 'gender', 0);
\set VERBOSITY sqlstate
SELECT match_exposure('customers', 'customer_id');
SELECT match_exposure('customers', 'no_such_column');
SELECT match_exposure('offers', 'title');
SELECT match_exposure('visitors', 'region');
\set VERBOSITY default

-- every demographic and proxy column changes
UPDATE customers SET gender = CASE gender WHEN 'f' THEN 'm' ELSE 'f' END,
                     birth_year = 2010 - (birth_year - 1950),
                     postal_code = lpad((99999 - postal_code::int)::text, 5, '0'),
                     ethnicity = CASE ethnicity WHEN 'a' THEN 'c' WHEN 'b' THEN 'a' ELSE 'b' END;
SELECT count(*) AS changed_answers
  FROM answers_before b JOIN all_answers() a USING (customer_id)
 WHERE a.answer IS DISTINCT FROM b.answer;
-- and so does a new demographic column
ALTER TABLE customers ADD COLUMN marital_status text DEFAULT 'married';
SELECT classify('customers', 'marital_status', 'user.demographic.marital_status') \g /dev/null
SELECT count(*) AS changed_answers
  FROM answers_before b JOIN all_answers() a USING (customer_id)
 WHERE a.answer IS DISTINCT FROM b.answer;
-- a demographic tag cannot be defined (intent.sql), nor smuggled onto an offer
INSERT INTO tag (tag, category) VALUES ('women', 'user.demographic.gender');
INSERT INTO offer_tags (offer_id, tag) VALUES ('mat', 'women');
\set VERBOSITY sqlstate
INSERT INTO offer_tags (offer_id, tag) VALUES ('mat', 'women');
\set VERBOSITY default
-- a category that becomes sensitive takes its tags out of every ranking
SELECT define_category('user.preference.style', 'personal') \g /dev/null
SELECT define_tag('minimalist', 'user.preference.style') \g /dev/null
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('novel', 'minimalist', 3);
SELECT state_intent('reader', 'minimalist', 1) \g /dev/null
SELECT offer_id, score, reasons FROM match('reader', 1);
UPDATE data_category SET sensitivity = 'sensitive' WHERE name = 'user.preference.style';
SELECT offer_id, score, reasons FROM match('reader', 1);
UPDATE data_category SET sensitivity = 'personal' WHERE name = 'user.preference.style';
DELETE FROM tag WHERE tag = 'women';

--------------------------------------------------------------------------
-- against a reference implementation of the rule, in SQL
--------------------------------------------------------------------------
CREATE FUNCTION ref_match(subj text, k integer, exclude_purchased boolean DEFAULT true)
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
		 GROUP BY ot.offer_id)
	SELECT s.offer_id, s.score
	  FROM scored s JOIN personalize.offers o USING (offer_id)
	 WHERE personalize.has_consent(subj, 'personalization')
	   AND EXISTS (SELECT 1 FROM aff WHERE aff.a > 0)
	   AND s.score > 0 AND o.enabled
	   AND coalesce(o.starts_at <= statement_timestamp(), true)
	   AND coalesce(o.ends_at > statement_timestamp(), true)
	   AND NOT EXISTS (SELECT 1 FROM personalize.offer_tags x JOIN intents i USING (tag)
	                    WHERE x.offer_id = s.offer_id AND i.w < 0)
	   AND NOT (exclude_purchased AND s.offer_id IN (
	            SELECT g.offer_id FROM personalize.signal g
	             WHERE g.subject = subj AND g.kind = 'purchase' AND g.offer_id IS NOT NULL))
	 ORDER BY s.score DESC, s.offer_id COLLATE "C"
	 LIMIT k
$$;
-- a bigger catalog: 3000 offers over 120 tags, skewed; 60 subjects with
-- intents (some negative), signals of several ages and purchases
SELECT count(*) AS tags FROM (SELECT define_tag('t' || lpad(i::text, 3, '0')) FROM generate_series(1, 120) i) d;
INSERT INTO offers (offer_id, title, priority, starts_at, ends_at, enabled)
SELECT 'o' || i, 'offer ' || i, i % 7,
       CASE WHEN i % 41 = 0 THEN now() + interval '1 day' END,
       CASE WHEN i % 37 = 0 AND i % 41 <> 0 THEN now() - interval '1 day' END,
       i % 43 <> 0
  FROM generate_series(1, 3000) i;
INSERT INTO offer_tags (offer_id, tag, weight)
SELECT DISTINCT ON (1, 2) 'o' || i, 't' || lpad((1 + floor(120 * power(((i * 7919 + j * 104729) % 1000) / 1000.0, 2)))::int::text, 3, '0'),
       (1 + (i + j) % 4) * 0.5
  FROM generate_series(1, 3000) i, generate_series(1, 6) j;
SELECT count(*) FILTER (WHERE grant_consent('s' || i, 'personalization') > 0) AS consenting
  FROM generate_series(1, 60) i WHERE i % 10 <> 0;
SELECT count(*) AS intents FROM (
	SELECT state_intent('s' || i, 't' || lpad((1 + (i * 13 + j * 29) % 120)::text, 3, '0'),
	                    CASE WHEN j = 1 THEN -1 ELSE j % 4 + 1 END)
	  FROM generate_series(1, 60) i, generate_series(1, 8) j) s;
SELECT count(*) FILTER (WHERE kept) AS signals FROM (
	SELECT record_signal('s' || i, 't' || lpad((1 + (i * 31 + j * 17) % 120)::text, 3, '0'),
	                     (ARRAY['view', 'click', 'dismiss'])[1 + j % 3],
	                     CASE WHEN j % 3 = 2 THEN -0.5 ELSE 1 END,
	                     now() - (j * 3 + i % 5) * interval '1 day') AS kept
	  FROM generate_series(1, 60) i, generate_series(1, 12) j) s;
SELECT count(*) FILTER (WHERE kept) AS purchases FROM (
	SELECT record_purchase('s' || i, 'o' || (1 + (i * 97 + j * 389) % 3000), 1,
	                       now() - j * interval '5 days') AS kept
	  FROM generate_series(1, 60) i, generate_series(1, 4) j) s;
-- Both answers come from one statement (so one statement time).  Sums of
-- float8 terms added in another order can differ in their last bits, which
-- can reorder offers whose scores are equal to 15 digits; so both lists are
-- read 10 rows further, put in canonical order (score rounded to 9
-- decimals, then offer_id) and cut to k.
CREATE FUNCTION canonical_top(ids text[], scores float8[], k integer) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg(t.id || '=' || t.r ORDER BY t.r DESC, t.id COLLATE "C")
	  FROM (SELECT u.id, round(u.sc::numeric, 9) AS r
	          FROM unnest(ids, scores) u(id, sc)
	         ORDER BY r DESC, u.id COLLATE "C" LIMIT k) t
$$;
SELECT count(*) AS subjects_compared,
       sum(cardinality(ours)) AS rows_compared,
       count(*) FILTER (WHERE ours IS DISTINCT FROM theirs) AS mismatches
  FROM (SELECT 's' || i AS subj FROM generate_series(1, 60) i) s,
       LATERAL (SELECT canonical_top(array_agg(m.offer_id), array_agg(m.score), 15) AS ours
                  FROM match(s.subj, 25) m WHERE m.score IS NOT NULL) a,
       LATERAL (SELECT canonical_top(array_agg(r.offer_id), array_agg(r.score), 15) AS theirs
                  FROM ref_match(s.subj, 25) r) b;
SELECT count(*) AS subjects_compared,
       sum(cardinality(ours)) AS rows_compared,
       count(*) FILTER (WHERE ours IS DISTINCT FROM theirs) AS mismatches
  FROM (SELECT 's' || i AS subj FROM generate_series(1, 60) i) s,
       LATERAL (SELECT canonical_top(array_agg(m.offer_id), array_agg(m.score), 40) AS ours
                  FROM match(s.subj, 50, exclude_purchased => false) m WHERE m.score IS NOT NULL) a,
       LATERAL (SELECT canonical_top(array_agg(r.offer_id), array_agg(r.score), 40) AS theirs
                  FROM ref_match(s.subj, 50, false) r) b;
-- subjects without consent (s10, s20 ...) got no scores: their rows are the
-- non-personalized list
SELECT count(*) AS non_personalized_rows, count(DISTINCT reasons[1]) AS reasons
  FROM (SELECT 's' || i AS subj FROM generate_series(10, 60, 10) i) s, LATERAL match(s.subj, 15) m;
-- every reason names a tag of the offer that the subject has an affinity for
SELECT count(*) AS reasons_checked FROM match('s7', 15) m, unnest(m.reasons) r;
SELECT cardinality(reasons) AS reasons, count(*) AS offers
  FROM match('s7', 15) m GROUP BY 1 ORDER BY 1;
SELECT bool_and(cardinality(m.reasons) = (
	SELECT count(*) FROM offer_tags ot
	 WHERE ot.offer_id = m.offer_id
	   AND ot.tag IN (SELECT tag FROM intent WHERE subject = 's7' UNION SELECT tag FROM signal WHERE subject = 's7')))
	AS one_reason_per_shared_tag
  FROM match('s7', 15) m;

--------------------------------------------------------------------------
-- the catalog index: built once, brought up to date by the overlay of
-- changed offers (no rebuild), exact in a transaction
--------------------------------------------------------------------------
SELECT builds AS builds_before FROM match_cache_info() \gset
SELECT count(*) FROM match('alice');
SELECT count(*) FROM match('bob');
SELECT fresh, kept, offers, tags, postings, builds - :builds_before AS rebuilt
  FROM match_cache_info();
INSERT INTO offers (offer_id, title) VALUES ('marathon', 'Marathon entry');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('marathon', 'running', 10);
SELECT fresh FROM match_cache_info();
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
SELECT fresh, offers, builds - :builds_before AS rebuilt FROM match_cache_info();
-- an uncommitted change is seen by its own transaction only, and a
-- rolled-back one leaves no trace
BEGIN;
UPDATE offer_tags SET weight = 0.1 WHERE offer_id = 'marathon';
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
SAVEPOINT s;
DELETE FROM offers WHERE offer_id = 'marathon';
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
ROLLBACK TO SAVEPOINT s;
UPDATE offer_tags SET weight = 0.2 WHERE offer_id = 'marathon';
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 100) WHERE offer_id = 'marathon';
ROLLBACK;
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
-- a private index that does not fit in personalize.match_cache_mem is read
-- for every call instead of kept (one WARNING per session and catalog
-- version: test/t/006_match_sessions.pl, as it shows only without
-- preloading); the shared index is kept whatever the setting
SET personalize.match_cache_mem = 0;
INSERT INTO offers (offer_id, title) VALUES ('tiny', 'Tiny');
UPDATE tag SET description = description WHERE false;   -- rebuilds
SET client_min_messages = error;
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
RESET client_min_messages;
SELECT kept = shared AS kept_only_if_shared, fresh = shared AS fresh_only_if_shared, offers
  FROM match_cache_info();
RESET personalize.match_cache_mem;
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
SELECT kept, fresh FROM match_cache_info();
-- a new index built by a statement in parallel mode: PostgreSQL before 17
-- starts no subtransaction there, which the shared segment's creation
-- needs; the index is then this session's (from 17 on, shared as ever),
-- without a WARNING, and answers as the shared one did.  First in a
-- statement forced into parallel mode ...
SELECT array_agg(c.customer_id || ':' || m.offer_id) AS answers
  FROM customers c CROSS JOIN LATERAL match(c.customer_id::text, 3) m \gset before_
UPDATE tag SET description = description WHERE false;   -- rebuilds
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END,
                  'on', false) \g /dev/null
SELECT offer_id, round(score::numeric, 4) AS score FROM match('alice', 1);
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END,
                  'off', false) \g /dev/null
SELECT kept, fresh FROM match_cache_info();
-- ... then in the leader, above a Gather
UPDATE tag SET description = description WHERE false;   -- rebuilds
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT array_agg(c.customer_id || ':' || m.offer_id) AS answers
  FROM customers c CROSS JOIN LATERAL match(c.customer_id::text, 3) m;
SELECT array_agg(c.customer_id || ':' || m.offer_id) AS answers
  FROM customers c CROSS JOIN LATERAL match(c.customer_id::text, 3) m \gset parallel_
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT kept, fresh FROM match_cache_info();
SELECT (SELECT array_agg(a ORDER BY a) FROM unnest(:'parallel_answers'::text[]) a) =
       (SELECT array_agg(a ORDER BY a) FROM unnest(:'before_answers'::text[]) a) AS same_answers,
       cardinality(:'parallel_answers'::text[]) AS rows;

--------------------------------------------------------------------------
-- bad input
--------------------------------------------------------------------------
SELECT * FROM match(NULL);
SELECT * FROM match('');
SELECT * FROM match('   ');
SELECT * FROM match('alice', 0);
SELECT * FROM match('alice', -1);
SELECT * FROM match('alice', NULL);
SELECT * FROM match('alice', 10001);
SELECT * FROM match('alice', 10, per_tag_cap => 0);
SELECT * FROM match('alice', 10, exclude_purchased => NULL);
SELECT count(*) AS shown, (SELECT count(*) FROM offers o WHERE o.enabled
        AND coalesce(o.starts_at <= now(), true) AND coalesce(o.ends_at > now(), true)) AS active
  FROM match('nobody', 10000);
\set VERBOSITY sqlstate
SELECT * FROM match(NULL);
SELECT * FROM match('');
SELECT * FROM match('alice', 0);
SELECT * FROM match('alice', NULL);
SELECT * FROM match('alice', 10001);
SELECT * FROM match('alice', 10, per_tag_cap => 0);
\set VERBOSITY default
-- the catalog refuses what match() could not use
INSERT INTO offer_tags (offer_id, tag) VALUES ('mat', 'knitting');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', 'NaN');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', 'Infinity');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', -1);
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', 0);
INSERT INTO offer_tags (offer_id, tag) VALUES ('no-such-offer', 'books');
INSERT INTO offers (offer_id, title, starts_at, ends_at, created_at) VALUES ('late', 'Late', '2026-02-01', '2026-01-01', '2026-01-01');
INSERT INTO offers (offer_id, title, created_at) VALUES ('', 'Nameless', '2026-01-01');
INSERT INTO offers (offer_id, title, created_at) VALUES ('untitled', ' ', '2026-01-01');
\set VERBOSITY sqlstate
INSERT INTO offer_tags (offer_id, tag) VALUES ('mat', 'knitting');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', 'NaN');
INSERT INTO offer_tags (offer_id, tag, weight) VALUES ('mat', 'books', -1);
INSERT INTO offers (offer_id, title, starts_at, ends_at) VALUES ('late', 'Late', '2026-02-01', '2026-01-01');
\set VERBOSITY default
-- purchases
SELECT record_purchase('alice', 'no-such-offer');
SELECT record_purchase('alice', NULL);
SELECT record_purchase('alice', 'tiny');
SELECT record_purchase('alice', 'mat', 'NaN');
SELECT record_purchase('alice', 'mat', 1, '2999-01-01 00:00+00');
SELECT record_purchase('', 'mat');
SELECT record_purchase('carol', 'mat') AS kept_without_consent;
\set VERBOSITY sqlstate
SELECT record_purchase('alice', 'no-such-offer');
SELECT record_purchase('alice', 'tiny');
\set VERBOSITY default

-- a catalog row written behind the foreign keys' back is a clear error
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO offer_tags VALUES ('no-such-offer', 'yoga', 1);
SET LOCAL session_replication_role = origin;
UPDATE tag SET description = description WHERE false;   -- the next match() rebuilds
SELECT * FROM match('alice');
ROLLBACK;
SELECT count(*) > 0 AS works_again FROM match('alice');

--------------------------------------------------------------------------
-- the model card
--------------------------------------------------------------------------
SELECT jsonb_object_keys(model_card()) AS section ORDER BY 1;
SELECT model_card() #>> '{model_details,name}' AS name,
       model_card() #>> '{model_details,parameters,personalize.signal_half_life}' AS half_life;
SELECT key, value FROM jsonb_each(model_card() #> '{metrics,live}')
 WHERE key NOT IN ('answers', 'catalog_cache') ORDER BY key;
SELECT (model_card() #>> '{metrics,live,offers}')::bigint = (SELECT count(*) FROM offers) AS offers_live,
       (model_card() #>> '{metrics,live,catalog_cache,cached_version}')::bigint =
       (SELECT version FROM match_catalog_version) AS cache_is_current;
SELECT (model_card() #>> '{metrics,live,answers,personalized}')::bigint > 0 AS some_personalized,
       (model_card() #>> '{metrics,live,answers,not_personalized_no_consent}')::bigint > 0 AS some_without_consent,
       (model_card() #>> '{metrics,live,answers,share_personalized}')::numeric BETWEEN 0 AND 1 AS share_is_a_share;
SELECT jsonb_array_length(model_card() #> '{inputs,refused,categories}') =
       (SELECT count(*) FROM data_category
         WHERE demographic OR sensitivity IN ('sensitive', 'special') OR proxy_for IS NOT NULL) AS every_refused_category,
       model_card() #> '{inputs,refused,categories}' @> '[{"category": "user.contact.address.postal_code"}]' AS postal_code_refused;
