--
-- Tags, stated intents and behaviour signals
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

-- tags name interests customers can state
SELECT define_tag('running', description => 'running and jogging');
SELECT define_tag('trail-running', 'user.preference', 'running off-road');
SELECT define_tag('vegan');
SELECT define_tag('recently-viewed-shoes', 'user.behavior');
SELECT tag, category, description FROM tag ORDER BY tag;

-- targeting who customers are is refused, with the reason and the way out
SELECT define_tag('women', 'user.demographic.gender');
-- the SQLSTATE of that error
\set VERBOSITY sqlstate
SELECT define_tag('women', 'user.demographic.gender');
\set VERBOSITY default
SELECT define_tag('over-60', 'user.demographic.age');
SELECT define_tag('christian', 'user.demographic.religious_belief');
SELECT define_tag('diabetic', 'user.health_and_medical');
SELECT define_tag('big-spender', 'user.financial');
SELECT define_tag('postcode-10115', 'user.contact.address.postal_code');
-- a category added later inherits the protection of its parent
SELECT define_category('user.demographic.generation', 'sensitive');
SELECT define_tag('gen-z', 'user.demographic.generation');
-- and other mistakes
SELECT define_tag('running');
SELECT define_tag('Running Shoes');
SELECT define_tag(NULL);
SELECT define_tag('cycling', 'user.preferences');
SELECT count(*) AS tags FROM tag;

-- stating intent; a negative weight means "avoid"
SELECT state_intent('alice', 'running', 2);
SELECT state_intent('alice', 'vegan', -1);
SELECT state_intent('alice', 'trail-running');
SELECT state_intent('alice', 'running', 3);    -- restating replaces the weight
SELECT subject, tag, weight FROM intent ORDER BY subject, tag;

-- bad intents
SELECT state_intent('alice', 'knitting');
SELECT state_intent('alice', 'running', 0);
SELECT state_intent('alice', 'running', 'NaN');
SELECT state_intent('alice', 'running', 'Infinity');
SELECT state_intent('alice', 'running', NULL);
SELECT state_intent('', 'running');
SELECT state_intent(NULL, 'running');
SELECT subject, tag, weight FROM intent ORDER BY subject, tag;

-- clearing one intent, then all
SELECT clear_intent('alice', 'vegan') AS cleared;
SELECT clear_intent('alice', 'vegan') AS cleared_again;
SELECT clear_intent('alice') AS cleared_all;
SELECT count(*) AS left_over FROM intent;

-- behaviour is kept only for subjects who agreed to personalization
SELECT record_signal('bob', 'running', 'view') AS kept_without_consent;
SELECT grant_consent('bob', 'personalization', 'preference centre') > 0 AS consented;
SELECT record_signal('bob', 'running', 'view') AS kept;
SELECT record_signal('bob', 'trail-running', 'purchase', 5, now() - interval '3 days') AS kept;
SELECT record_signal('bob', 'vegan', 'dismiss', -1) AS kept;
SELECT subject, tag, kind, weight FROM signal ORDER BY signal_id;
SELECT withdraw_consent('bob', 'personalization') > 0 AS withdrew;
SELECT record_signal('bob', 'running', 'view') AS kept_after_withdrawal;
SELECT count(*) AS signals FROM signal;

-- bad signals
SELECT record_signal('bob', 'running', 'View!');
SELECT record_signal('bob', 'running', NULL);
SELECT record_signal('bob', 'running', 'view', 'NaN');
SELECT record_signal('bob', 'running', 'view', 1, '2999-01-01 00:00+00');
SELECT record_signal('bob', 'no-such-tag', 'view');
