-- pgTAP: intent matching's objects and the least-privilege setup documented
-- in README.md ("Security model"): a marketer edits the offer catalog, the
-- application ranks offers and records purchases, an auditor checks
-- exposure by group; nobody else can do any of it, and nobody reads the
-- subjects' data through them.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(42);

SELECT has_table('personalize', 'offers', 'offers exists');
SELECT has_table('personalize', 'offer_tags', 'offer_tags exists');
SELECT has_table('personalize', 'match_catalog_version', 'match_catalog_version exists');
SELECT has_table('personalize', 'match_catalog_change', 'match_catalog_change exists');
SELECT has_index('personalize', 'match_catalog_change', 'match_catalog_change_version_idx', ARRAY['version'],
	'the change log is read by version');
SELECT is_empty($$
	SELECT t.tgname FROM pg_trigger t
	 WHERE t.tgname LIKE '%match_catalog%' AND t.tgname NOT LIKE '%\_applied' AND t.tgenabled <> 'A'
$$, 'the catalog''s bookkeeping triggers fire always, for replicas too');
SELECT is_empty($$
	SELECT t.tgname FROM pg_trigger t
	 WHERE t.tgname LIKE '%\_applied' AND t.tgenabled <> 'R'
$$, 'the row triggers that stand in for them for an apply worker fire for replicas only');
SELECT ok(NOT has_function_privilege('public', 'personalize._match_fold()', 'EXECUTE'),
	'the maintenance duty _match_fold is not executable by PUBLIC');
SELECT col_is_pk('personalize', 'offer_tags', ARRAY['offer_id', 'tag'], 'an offer carries a tag once');
SELECT has_index('personalize', 'offer_tags', 'offer_tags_tag_idx', ARRAY['tag'], 'offer_tags is indexed by tag');
SELECT has_function('personalize', 'match', ARRAY['text', 'integer', 'integer', 'boolean'],
	'match(subject, k, per_tag_cap, exclude_purchased)');
SELECT volatility_is('personalize', 'match', ARRAY['text', 'integer', 'integer', 'boolean'], 'stable',
	'match is stable');
SELECT isnt_definer('personalize', 'match', ARRAY['text', 'integer', 'integer', 'boolean'],
	'match is not SECURITY DEFINER (C reads the extension''s tables directly)');
SELECT isnt_definer('personalize', 'match_exposure', ARRAY['regclass', 'name', 'integer'],
	'match_exposure runs as its caller');
SELECT is_definer('personalize', 'record_purchase', ARRAY['text', 'text', 'real', 'timestamp with time zone'],
	'record_purchase writes as the extension owner');
SELECT is_definer('personalize', '_match_catalog_changed', ARRAY[]::text[],
	'the catalog triggers increment the version as the extension owner');

-- who may call what
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'personalize'::regnamespace
	   AND p.proname IN ('match', 'match_exposure', 'record_purchase')
	   AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'match, match_exposure and record_purchase are not executable by PUBLIC');
SELECT ok(has_function_privilege('public', 'personalize.model_card()', 'EXECUTE'),
	'model_card is executable by PUBLIC');
SELECT ok(has_function_privilege('public', 'personalize.match_cache_info()', 'EXECUTE'),
	'match_cache_info is executable by PUBLIC');
SELECT is_empty($$
	SELECT c.relname FROM pg_class c
	 WHERE c.relnamespace = 'personalize'::regnamespace
	   AND c.relname IN ('offers', 'offer_tags', 'match_catalog_version', 'match_catalog_change')
	   AND (has_table_privilege('public', c.oid, 'SELECT')
	        OR has_table_privilege('public', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
$$, 'the catalog is neither readable nor writable by PUBLIC');

-- the documented roles
CREATE ROLE regress_marketer;
CREATE ROLE regress_shop_app;
CREATE ROLE regress_auditor;
CREATE ROLE regress_nobody;
GRANT SELECT, INSERT, UPDATE, DELETE ON personalize.offers, personalize.offer_tags TO regress_marketer;
GRANT EXECUTE ON FUNCTION
	personalize.match(text, integer, integer, boolean),
	personalize.record_purchase(text, text, real, timestamptz),
	personalize.grant_consent(text, text, text, timestamptz),
	personalize.state_intent(text, text, real)
	TO regress_shop_app;
CREATE TABLE regress_customers (customer_id bigint PRIMARY KEY, gender text);
INSERT INTO regress_customers VALUES (1, 'f'), (2, 'm');
SELECT personalize.register_table('regress_customers', 'customer_id');
SECURITY LABEL FOR personalize ON COLUMN regress_customers.gender IS 'user.demographic.gender';
GRANT EXECUTE ON FUNCTION
	personalize.match(text, integer, integer, boolean),
	personalize.match_exposure(regclass, name, integer)
	TO regress_auditor;
SELECT personalize.define_tag('running');

-- the marketer edits the catalog, and nothing else
SET ROLE regress_marketer;
SELECT lives_ok($$ INSERT INTO personalize.offers (offer_id, title) VALUES ('shoes', 'Running shoes') $$,
	'marketer: adds an offer');
SELECT lives_ok($$ INSERT INTO personalize.offer_tags (offer_id, tag, weight) VALUES ('shoes', 'running', 2) $$,
	'marketer: tags it (the version row is written by the trigger, not by the marketer)');
SELECT lives_ok($$ UPDATE personalize.offers SET priority = 5 WHERE offer_id = 'shoes' $$,
	'marketer: changes it');
SELECT throws_ok($$ UPDATE personalize.match_catalog_version SET version = 0 $$, '42501', NULL,
	'marketer: cannot rewrite the catalog version');
SELECT throws_ok($$ DELETE FROM personalize.match_catalog_change $$, '42501', NULL,
	'marketer: cannot rewrite the change log (written by the trigger)');
SELECT throws_ok($$ SELECT * FROM personalize.match('1') $$, '42501', NULL,
	'marketer: cannot rank offers for a customer');
SELECT throws_ok($$ SELECT * FROM personalize.intent $$, '42501', NULL,
	'marketer: cannot read intents');
SELECT throws_ok($$ SELECT personalize.define_tag('knitting') $$, '42501', NULL,
	'marketer: cannot define tags');
RESET ROLE;

-- the application ranks offers and records purchases
SET ROLE regress_shop_app;
SELECT lives_ok($$ SELECT personalize.grant_consent('1', 'personalization', 'app') $$,
	'app: records consent');
SELECT lives_ok($$ SELECT personalize.state_intent('1', 'running', 2) $$,
	'app: records an intent');
SELECT is((SELECT array_agg(offer_id || ':' || score) FROM personalize.match('1')), ARRAY['shoes:4'],
	'app: ranks offers with match()');
SELECT is((SELECT reasons FROM personalize.match('2')), ARRAY['not personalized: no consent to personalization'],
	'app: a customer without consent gets the non-personalized list');
SELECT is(personalize.record_purchase('1', 'shoes'), true,
	'app: records a purchase');
SELECT throws_ok($$ INSERT INTO personalize.offers (offer_id, title) VALUES ('x', 'x') $$, '42501', NULL,
	'app: cannot edit the catalog');
SELECT throws_ok($$ SELECT * FROM personalize.signal $$, '42501', NULL,
	'app: cannot read signals');
RESET ROLE;

-- the auditor checks exposure by group, as themselves
SET ROLE regress_auditor;
SELECT throws_ok($$ SELECT * FROM personalize.match_exposure('regress_customers', 'gender') $$, '42501', NULL,
	'auditor: needs SELECT on the customer table');
RESET ROLE;
GRANT SELECT ON regress_customers TO regress_auditor;
SET ROLE regress_auditor;
SELECT is((SELECT count(*)::int FROM personalize.match_exposure('regress_customers', 'gender')), 2,
	'auditor: exposure of one offer for two groups');
SELECT throws_ok($$ SELECT * FROM personalize.consent $$, '42501', NULL,
	'auditor: cannot read consent');
RESET ROLE;

-- a role with no grants
SET ROLE regress_nobody;
SELECT throws_ok($$ SELECT * FROM personalize.match('1') $$, '42501', NULL,
	'nobody: cannot rank offers for a customer');
SELECT throws_ok($$ SELECT * FROM personalize.offers $$, '42501', NULL,
	'nobody: cannot read the catalog');
SELECT throws_ok($$ SELECT personalize.record_purchase('1', 'shoes') $$, '42501', NULL,
	'nobody: cannot record purchases');
SELECT lives_ok($$ SELECT personalize.model_card() $$,
	'nobody: can read the model card');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
