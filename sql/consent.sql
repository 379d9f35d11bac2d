--
-- Purposes, data categories and consent
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

-- the built-in purpose and a sample of the taxonomy
SELECT name, value_exchange <> '' AS has_value_exchange, builtin FROM purpose ORDER BY name;
SELECT name, sensitivity, demographic, proxy_for
  FROM data_category
 WHERE name IN ('user.contact.email', 'user.contact.address.postal_code', 'user.demographic.age',
                'user.demographic.race_ethnicity', 'user.health_and_medical', 'user.financial',
                'user.preference', 'user.behavior', 'system.operations')
 ORDER BY name;
SELECT sensitivity, count(*) FROM data_category GROUP BY sensitivity ORDER BY sensitivity;

-- define_category: a child is never less protected than its parent
SELECT define_category('user.preference.cuisine', 'personal', 'favourite kinds of food');
SELECT define_category('user.demographic.income_band', 'sensitive');
SELECT name, sensitivity, demographic FROM data_category
 WHERE name IN ('user.preference.cuisine', 'user.demographic.income_band') ORDER BY name;
SELECT define_category('user.health_and_medical.allergies', 'personal');
SELECT define_category('user.preference.cuisine', 'personal');
SELECT define_category('User.Things', 'personal');
SELECT define_category('user.things', 'secret');
SELECT define_category('user.contact.address.district', 'personal', NULL, 'user.demographic.ethnic');
SELECT define_category('user.contact.address.district', 'personal');
SELECT proxy_for FROM data_category WHERE name = 'user.contact.address.district';

-- define_purpose
SELECT define_purpose('marketing', 'emails about offers and events',
                      'early access to sales and a birthday discount',
                      '{user.contact.email, user.preference}');
SELECT define_purpose('marketing.newsletter', 'a monthly newsletter', 'news from the shop first',
                      '{user.contact.email}', 'marketing');
SELECT define_purpose('analytics', 'aggregate reports on shop usage', 'a shop that works better for you',
                      '{user.behavior}');
SELECT p.name, parent.name AS parent, array_agg(pc.category ORDER BY pc.category) AS categories
  FROM purpose p
  LEFT JOIN purpose parent ON parent.purpose_id = p.parent_id
  LEFT JOIN purpose_category pc ON pc.purpose_id = p.purpose_id
 GROUP BY p.name, parent.name ORDER BY p.name;

-- bad purposes: each a clear error, and nothing half-written
SELECT count(*) AS purposes_before FROM purpose \gset
SELECT define_purpose('profiling', 'build profiles', '');
-- the SQLSTATE of that error
\set VERBOSITY sqlstate
SELECT define_purpose('profiling', 'build profiles', '');
\set VERBOSITY default
SELECT define_purpose('profiling', 'build profiles', NULL);
SELECT define_purpose('profiling', 'build profiles', '   ');
SELECT define_purpose('profiling', '', 'better offers');
-- white space of every kind is no value exchange and no description
SELECT define_purpose('profiling', 'build profiles', E'\t\n');
SELECT define_purpose('profiling', 'build profiles', U&'\00A0\3000\200B');
SELECT define_purpose('profiling', E'\r\n', 'better offers');
SELECT define_purpose('marketing', 'again', 'again');
SELECT define_purpose('profiling', 'build profiles', 'better offers', '{user.contact.emial}');
SELECT define_purpose('profiling', 'build profiles', 'better offers', '{user.contact.email, NULL}');
SELECT define_purpose('profiling', 'build profiles', 'better offers', '{}', 'no_such_parent');
SELECT define_purpose('Profiling!', 'build profiles', 'better offers');
SELECT count(*) = :purposes_before AS nothing_written FROM purpose;
SELECT count(*) AS orphan_categories FROM purpose_category pc
 WHERE NOT EXISTS (SELECT 1 FROM purpose p WHERE p.purpose_id = pc.purpose_id);

-- the hierarchy stays a tree, however it is edited
UPDATE purpose SET parent_id = (SELECT purpose_id FROM purpose WHERE name = 'marketing.newsletter')
 WHERE name = 'marketing';
UPDATE purpose SET parent_id = purpose_id WHERE name = 'analytics';

-- granting and withdrawing
SELECT grant_consent('alice', 'marketing', 'signup form v3') > 0 AS granted;
SELECT grant_consent('alice', 'analytics', 'cookie banner v2');
SELECT has_consent('alice', 'marketing') AS marketing,
       has_consent('alice', 'marketing.newsletter') AS newsletter_via_parent,
       has_consent('alice', 'analytics') AS analytics,
       has_consent('alice', 'personalization') AS personalization,
       has_consent('bob', 'marketing') AS unknown_subject;

-- least permissive: withdrawing the child beats consent to the parent
SELECT withdraw_consent('alice', 'marketing.newsletter', 'unsubscribe link') > 0 AS withdrawn;
SELECT has_consent('alice', 'marketing') AS marketing,
       has_consent('alice', 'marketing.newsletter') AS newsletter;

-- and withdrawing the parent covers the child, even one granted explicitly
SELECT grant_consent('carol', 'marketing.newsletter', 'newsletter box');
SELECT has_consent('carol', 'marketing.newsletter') AS newsletter, has_consent('carol', 'marketing') AS marketing;
SELECT withdraw_consent('carol', 'marketing', 'phone call');
SELECT has_consent('carol', 'marketing.newsletter') AS newsletter_after_parent_withdrawal;
-- a grant that cannot take effect says so
SELECT grant_consent('carol', 'marketing.newsletter', 'newsletter box');
SELECT has_consent('carol', 'marketing.newsletter') AS still_no;
SELECT grant_consent('carol', 'marketing', 'phone call') > 0 AS regranted;
SELECT has_consent('carol', 'marketing.newsletter') AS now_yes;

-- withdrawing without having granted records a refusal
SELECT withdraw_consent('dave', 'analytics', 'objection by email') > 0 AS refused;
SELECT has_consent('dave', 'analytics');

-- expiry: expired consent is no consent
SELECT grant_consent('erin', 'analytics', 'trial', now() + interval '30 days') > 0 AS granted_for_30_days;
SELECT has_consent('erin', 'analytics') AS before_expiry;
-- let the 30 days pass
UPDATE consent SET expires_at = now() - interval '1 second'
 WHERE subject = 'erin';
SELECT has_consent('erin', 'analytics') AS after_expiry;
SELECT subject, purpose, status FROM consents WHERE subject = 'erin';
-- a parent's unexpired grant still covers an expired child grant
SELECT grant_consent('erin', 'marketing.newsletter', 'trial', now() + interval '1 day');
UPDATE consent SET expires_at = now() - interval '1 second'
 WHERE subject = 'erin' AND purpose_id = (SELECT purpose_id FROM purpose WHERE name = 'marketing.newsletter');
SELECT has_consent('erin', 'marketing.newsletter') AS expired_child_alone;
SELECT grant_consent('erin', 'marketing');
SELECT has_consent('erin', 'marketing.newsletter') AS covered_by_parent;

-- bad input
SELECT grant_consent(NULL, 'marketing');
SELECT grant_consent('', 'marketing');
SELECT grant_consent('  ', 'marketing');
SELECT grant_consent('frank', 'no_such_purpose');
SELECT grant_consent('frank', NULL);
SELECT grant_consent('frank', 'marketing', 'form', '2020-01-01 00:00+00');
SELECT withdraw_consent('frank', 'no_such_purpose');
SELECT has_consent('frank', 'no_such_purpose');
SELECT has_consent(NULL::text, 'marketing') IS NULL AS strict;
SELECT count(*) AS nothing_recorded_for_frank FROM consent_history WHERE subject = 'frank';

-- the views
SELECT subject, purpose, status, source, expires_at IS NOT NULL AS expires
  FROM consents ORDER BY subject, purpose;
SELECT subject, purpose, action, source, recorded_by = session_user AS by_me
  FROM consent_history ORDER BY event_id;

-- consent history is append-only, for every role (this one is a superuser)
UPDATE consent_event SET source = 'rewritten';
DELETE FROM consent_event WHERE subject = 'alice';
TRUNCATE consent_event;
SELECT count(*) AS events_kept FROM consent_event;

-- bigint, uuid and text keys name the same subjects
SELECT grant_consent('42', 'analytics');
SELECT grant_consent('-7', 'analytics');
SELECT grant_consent('007', 'analytics');
SELECT grant_consent('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'analytics');
SELECT grant_consent('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', 'analytics');
SELECT has_consent(42, 'analytics') AS int_42, has_consent('42', 'analytics') AS text_42,
       has_consent(-7, 'analytics') AS int_minus_7,
       has_consent(7, 'analytics') AS int_7_is_not_text_007,
       has_consent('007', 'analytics') AS text_007,
       has_consent(9223372036854775807, 'analytics') AS int_max;
SELECT has_consent('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'analytics') AS uuid_lower,
       has_consent('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'analytics') AS text_upper_is_another_key,
       has_consent('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'::uuid, 'analytics') AS uuid_of_upper_text;

-- has_consent() agrees with a plain SQL reading of the rules, for many
-- subjects, whether it probes the index or loads the whole purpose
CREATE TABLE subjects AS
  SELECT i AS id, i::text AS key, (ARRAY['u-', 'x', ''])[1 + i % 3] || i AS other_key
    FROM generate_series(1, 3000) AS i;
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM subjects LOOP
		CASE r.id % 7
			WHEN 0 THEN NULL;
			WHEN 1 THEN PERFORM personalize.grant_consent(r.key, 'marketing');
			WHEN 2 THEN PERFORM personalize.grant_consent(r.key, 'marketing');
			            PERFORM personalize.withdraw_consent(r.key, 'marketing.newsletter');
			WHEN 3 THEN PERFORM personalize.grant_consent(r.key, 'marketing.newsletter');
			WHEN 4 THEN PERFORM personalize.grant_consent(r.key, 'marketing.newsletter');
			            PERFORM personalize.withdraw_consent(r.key, 'marketing');
			WHEN 5 THEN PERFORM personalize.withdraw_consent(r.key, 'marketing');
			WHEN 6 THEN PERFORM personalize.grant_consent(r.key, 'marketing.newsletter',
			                                                  NULL, now() + interval '1 hour');
		END CASE;
		IF r.id % 5 = 0 THEN
			PERFORM personalize.grant_consent(r.other_key, 'marketing');
		END IF;
	END LOOP;
END $$;
UPDATE consent SET expires_at = now() - interval '1 minute'
 WHERE subject IN (SELECT key FROM subjects WHERE id % 14 = 6);
ANALYZE consent;

CREATE FUNCTION pg_temp.truth(p_subject text, p_purpose text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE chain AS (
    SELECT purpose_id, parent_id FROM personalize.purpose WHERE name = p_purpose
    UNION ALL
    SELECT p.purpose_id, p.parent_id FROM personalize.purpose p JOIN chain c ON p.purpose_id = c.parent_id)
  SELECT coalesce(bool_or(c.state = 'g' AND (c.expires_at IS NULL OR c.expires_at > statement_timestamp())), false)
         AND NOT coalesce(bool_or(c.state = 'w'), false)
    FROM personalize.consent c JOIN chain USING (purpose_id)
   WHERE c.subject = p_subject
$$;

SELECT count(*) FILTER (WHERE pg_temp.truth(key, 'marketing.newsletter')) AS consenting,
       count(*) FILTER (WHERE NOT pg_temp.truth(key, 'marketing.newsletter')) AS not_consenting
  FROM subjects;
-- probing only (no bulk load allowed)
SET personalize.consent_cache_mem = 0;
SELECT count(*) AS mismatches FROM subjects
 WHERE has_consent(key, 'marketing.newsletter') IS DISTINCT FROM pg_temp.truth(key, 'marketing.newsletter')
    OR has_consent(id, 'marketing.newsletter') IS DISTINCT FROM pg_temp.truth(key, 'marketing.newsletter')
    OR has_consent(other_key, 'marketing') IS DISTINCT FROM pg_temp.truth(other_key, 'marketing');
-- bulk loads after a few hundred probes
RESET personalize.consent_cache_mem;
SELECT count(*) AS mismatches FROM subjects
 WHERE has_consent(key, 'marketing.newsletter') IS DISTINCT FROM pg_temp.truth(key, 'marketing.newsletter')
    OR has_consent(id, 'marketing.newsletter') IS DISTINCT FROM pg_temp.truth(key, 'marketing.newsletter')
    OR has_consent(other_key, 'marketing') IS DISTINCT FROM pg_temp.truth(other_key, 'marketing')
    OR has_consent(id::text, 'analytics') IS DISTINCT FROM pg_temp.truth(id::text, 'analytics');
-- a purpose argument that changes from row to row
SELECT count(*) AS mismatches
  FROM subjects, (VALUES ('marketing'), ('marketing.newsletter'), ('analytics'), ('personalization')) AS p(name)
 WHERE has_consent(key, p.name) IS DISTINCT FROM pg_temp.truth(key, p.name);
-- the same through a parallel plan
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT count(*) FROM subjects WHERE has_consent(id, 'marketing.newsletter');
SELECT count(*) AS parallel_count,
       (SELECT count(*) FROM subjects WHERE pg_temp.truth(key, 'marketing.newsletter')) AS truth
  FROM subjects WHERE has_consent(id, 'marketing.newsletter');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- within one transaction, has_consent sees the transaction's own changes
BEGIN;
SELECT has_consent('alice', 'analytics') AS before;
SELECT withdraw_consent('alice', 'analytics') > 0 AS withdrawn;
SELECT has_consent('alice', 'analytics') AS after_own_withdrawal;
ROLLBACK;
SELECT has_consent('alice', 'analytics') AS after_rollback;

-- and a PL/pgSQL loop re-reads consent at each statement
CREATE FUNCTION pg_temp.loop_check() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	seen text[] := '{}';
BEGIN
	FOR i IN 1..2 LOOP
		seen := seen || personalize.has_consent('alice', 'analytics')::text;
		PERFORM personalize.withdraw_consent('alice', 'analytics');
	END LOOP;
	RETURN seen;
END $$;
BEGIN;
SELECT pg_temp.loop_check();
ROLLBACK;

-- a rolled-back subtransaction hides its writes again, though no snapshot
-- field changes: a call site that lives on must not keep its answer
SELECT withdraw_consent('alice', 'marketing') > 0 AS alice_withdraws;
CREATE TABLE scratch (x int);
CREATE FUNCTION pg_temp.rollback_probe() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	answers text[] := '{}';
BEGIN
	FOR i IN 1 .. 2 LOOP
		BEGIN
			IF i = 1 THEN
				PERFORM personalize.grant_consent('alice', 'marketing');   -- to be rolled back
				BEGIN	-- a nested subtransaction that writes and aborts
					INSERT INTO scratch VALUES (1);
					RAISE EXCEPTION 'inner';
				EXCEPTION WHEN raise_exception THEN NULL;
				END;
			END IF;
			answers := answers || personalize.has_consent('alice', 'marketing')::text;
			IF i = 1 THEN
				RAISE EXCEPTION 'undo the grant';
			END IF;
		EXCEPTION WHEN raise_exception THEN
			answers := answers || 'grant rolled back'::text;
		END;
	END LOOP;
	RETURN answers;
END $$;
SELECT pg_temp.rollback_probe();
SELECT has_consent('alice', 'marketing') AS after_statement;
DROP TABLE scratch;

DROP TABLE subjects;

-- purposes nest at most as deep as has_consent() reads (32 levels): a
-- deeper chain is refused when it is made, however it is made
DO $$
BEGIN
	PERFORM define_purpose('level1', 'level 1', 'a test');
	FOR i IN 2 .. 32 LOOP
		PERFORM define_purpose('level' || i, 'level ' || i, 'a test', '{}', 'level' || (i - 1));
	END LOOP;
END $$;
SELECT has_consent('alice', 'level32') AS deepest_allowed_is_readable;
SELECT define_purpose('level33', 'level 33', 'a test', '{}', 'level32');
-- moving a subtree under a deeper parent counts the levels below it
SELECT define_purpose('top', 'top', 'a test');
SELECT define_purpose('top.child', 'child', 'a test', '{}', 'top');
UPDATE purpose SET parent_id = (SELECT purpose_id FROM purpose WHERE name = 'level31')
 WHERE name = 'top';
SELECT count(*) AS chain_unchanged FROM purpose WHERE name LIKE 'level%';

-- a parent missing inside a transaction (the check is deferred to commit)
-- is a clear error, not an internal one
BEGIN;
INSERT INTO purpose (name, description, value_exchange, parent_id)
VALUES ('orphan', 'an orphan', 'a test', 99999);
SELECT has_consent('alice', 'orphan');
ROLLBACK;

-- distribute() is for a Citus coordinator (test/citus): elsewhere it says
-- so, and only the extension's owner may call it at all
SELECT * FROM distribute();
CREATE ROLE regress_not_owner;
SET ROLE regress_not_owner;
SELECT * FROM personalize.distribute();
RESET ROLE;
DROP ROLE regress_not_owner;
SELECT count(*) AS replica_rows FROM consent_replica;
