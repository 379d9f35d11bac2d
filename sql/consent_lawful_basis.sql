--
-- Lawful bases: define_purpose(..., lawful_basis), objections, may_process()
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
\set SHOW_CONTEXT never

-- every existing purpose needs consent; a new one does unless it says otherwise
SELECT name, lawful_basis FROM purpose ORDER BY name;
SELECT define_purpose('marketing', 'emails about offers', 'early access to sales',
                      '{user.contact.email, user.unique_id}');
SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
                      '{user.contact, user.unique_id, system.operations}', lawful_basis => 'contract');
SELECT define_purpose('support.callback', 'calling back about an open case', 'a call instead of a wait',
                      '{user.contact}', 'support', 'contract');
SELECT define_purpose('fraud', 'checking orders for fraud', 'a shop that stays safe to buy in',
                      lawful_basis => 'legal_obligation');
SELECT define_purpose('fraud.scoring', 'scoring orders for fraud', 'fewer blocked orders',
                      parent => 'fraud', lawful_basis => 'legitimate_interests');
SELECT define_purpose('support.survey', 'asking how the case went', 'a say in how we help',
                      parent => 'support');
SELECT name, lawful_basis, (SELECT q.name FROM purpose q WHERE q.purpose_id = p.parent_id) AS parent
  FROM purpose p ORDER BY name;

-- bad lawful bases: nothing is written
SELECT define_purpose('billing', 'sending invoices', 'invoices', lawful_basis => 'Contract');
SELECT define_purpose('billing', 'sending invoices', 'invoices', lawful_basis => 'contractual');
SELECT define_purpose('billing', 'sending invoices', 'invoices', lawful_basis => NULL);
SELECT define_purpose('billing', 'sending invoices', 'invoices', lawful_basis => '');
SELECT count(*) AS billing_defined FROM purpose WHERE name = 'billing';
-- the table refuses it too, whoever writes it (terse: the row has a time)
\set VERBOSITY terse
INSERT INTO purpose (name, description, value_exchange, lawful_basis)
VALUES ('billing', 'sending invoices', 'invoices', 'whim');
\set VERBOSITY sqlstate
SELECT define_purpose('billing', 'sending invoices', 'invoices', lawful_basis => 'whim');
\set VERBOSITY default

-- a purpose on another basis holds without consent, until the subject objects
SELECT has_consent('42', 'support') AS has_consent, may_process('42', 'support') AS may_process;
SELECT may_process('42', 'support.callback') AS callback, may_process('42', 'fraud.scoring') AS scoring;
SELECT withdraw_consent('42', 'support.callback', 'phone call') > 0 AS objected;
SELECT may_process('42', 'support') AS support, may_process('42', 'support.callback') AS callback,
       may_process(42::bigint, 'support.callback') AS callback_bigint;
-- an objection to a purpose covers the purposes below it
SELECT withdraw_consent('43', 'fraud', 'letter') > 0 AS objected;
SELECT may_process('43', 'fraud') AS fraud, may_process('43', 'fraud.scoring') AS scoring;
-- a grant lifts an objection, and says the purpose needs no consent
SELECT grant_consent('43', 'fraud', 'letter') > 0 AS granted;
SELECT may_process('43', 'fraud') AS fraud, may_process('43', 'fraud.scoring') AS scoring;
-- the history keeps both, as for consent
SELECT subject, purpose, action, source FROM consent_history WHERE subject IN ('42', '43') ORDER BY event_id;
SELECT subject, purpose, status, lawful_basis FROM consents WHERE subject IN ('42', '43') ORDER BY subject, purpose;

-- a consent purpose means for may_process what it means for has_consent,
-- also below a purpose on another basis
SELECT may_process('44', 'marketing') AS no_grant, may_process('44', 'support.survey') AS survey_no_grant;
SELECT grant_consent('44', 'marketing') > 0, grant_consent('44', 'support.survey') > 0;
SELECT may_process('44', 'marketing') AS marketing, may_process('44', 'support.survey') AS survey,
       has_consent('44', 'support.survey') AS has_consent_survey;
SELECT withdraw_consent('44', 'support') > 0 AS objects_to_support;
SELECT may_process('44', 'support.survey') AS survey, has_consent('44', 'support.survey') AS has_consent_survey;

-- keys: text, bigint and uuid name the same subject, as for has_consent
SELECT withdraw_consent('4a1b2c3d-0000-4000-8000-000000000001', 'support') > 0 AS uuid_objects;
SELECT may_process('4a1b2c3d-0000-4000-8000-000000000001'::uuid, 'support') AS by_uuid,
       may_process('4a1b2c3d-0000-4000-8000-000000000001', 'support') AS by_text,
       may_process('4a1b2c3d-0000-4000-8000-000000000002'::uuid, 'support') AS other_uuid,
       may_process(42, 'support.callback') AS by_int;

-- bad input: as has_consent
SELECT may_process('42', 'no_such_purpose');
SELECT may_process(NULL::text, 'support') IS NULL AS null_subject,
       may_process('42', NULL) IS NULL AS null_purpose;

-- many subjects: probing and the bulk load give the answers of the rules
CREATE TABLE subjects AS
SELECT i AS id, i::text AS key FROM generate_series(1, 3000) AS i;
DO $$
BEGIN
	FOR i IN 1..3000 LOOP
		IF i % 7 = 0 THEN
			PERFORM personalize.withdraw_consent(i::text, 'support');          -- objects
		ELSIF i % 11 = 0 THEN
			PERFORM personalize.withdraw_consent(i::text, 'support.callback'); -- objects to the child
		ELSIF i % 13 = 0 THEN
			PERFORM personalize.grant_consent(i::text, 'support.survey');
		ELSIF i % 17 = 0 THEN
			PERFORM personalize.grant_consent(i::text, 'marketing');
		END IF;
	END LOOP;
END $$;
ANALYZE consent;
CREATE FUNCTION pg_temp.truth(p_subject text, p_purpose text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  WITH RECURSIVE chain AS (
    SELECT purpose_id, parent_id FROM personalize.purpose WHERE name = p_purpose
    UNION ALL
    SELECT p.purpose_id, p.parent_id FROM personalize.purpose p JOIN chain c ON p.purpose_id = c.parent_id),
  rows_ AS (SELECT c.* FROM personalize.consent c JOIN chain USING (purpose_id) WHERE c.subject = p_subject)
  SELECT CASE (SELECT lawful_basis FROM personalize.purpose WHERE name = p_purpose)
         WHEN 'consent' THEN
              coalesce((SELECT bool_or(state = 'g' AND (expires_at IS NULL OR expires_at > statement_timestamp())) FROM rows_), false)
              AND NOT coalesce((SELECT bool_or(state = 'w') FROM rows_), false)
         ELSE NOT coalesce((SELECT bool_or(state = 'w') FROM rows_), false) END
$$;
SELECT p.name,
       count(*) FILTER (WHERE pg_temp.truth(key, p.name)) AS may,
       count(*) FILTER (WHERE NOT pg_temp.truth(key, p.name)) AS may_not
  FROM subjects, (VALUES ('support'), ('support.callback'), ('support.survey'), ('marketing')) AS p(name)
 GROUP BY p.name ORDER BY p.name;
-- probing only (no bulk load allowed)
SET personalize.consent_cache_mem = 0;
SELECT count(*) AS mismatches FROM subjects
 WHERE may_process(key, 'support') IS DISTINCT FROM pg_temp.truth(key, 'support')
    OR may_process(id, 'support.callback') IS DISTINCT FROM pg_temp.truth(key, 'support.callback')
    OR may_process(id, 'support.survey') IS DISTINCT FROM pg_temp.truth(key, 'support.survey')
    OR may_process(key, 'marketing') IS DISTINCT FROM pg_temp.truth(key, 'marketing');
-- bulk loads after a few hundred probes
RESET personalize.consent_cache_mem;
SELECT count(*) AS mismatches FROM subjects
 WHERE may_process(key, 'support') IS DISTINCT FROM pg_temp.truth(key, 'support')
    OR may_process(id, 'support.callback') IS DISTINCT FROM pg_temp.truth(key, 'support.callback')
    OR may_process(id, 'support.survey') IS DISTINCT FROM pg_temp.truth(key, 'support.survey')
    OR may_process(key, 'marketing') IS DISTINCT FROM pg_temp.truth(key, 'marketing');
SELECT count(*) FILTER (WHERE may_process(id, 'support')) AS may_support,
       count(*) FILTER (WHERE has_consent(id, 'support')) AS consent_support
  FROM subjects;
-- a purpose argument that changes from row to row
SELECT count(*) AS mismatches
  FROM subjects, (VALUES ('support'), ('support.callback'), ('marketing'), ('fraud.scoring')) AS p(name)
 WHERE may_process(key, p.name) IS DISTINCT FROM pg_temp.truth(key, p.name);
-- the same through a parallel plan
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT count(*) AS parallel_count,
       (SELECT count(*) FROM subjects WHERE pg_temp.truth(key, 'support.callback')) AS truth
  FROM subjects WHERE may_process(id, 'support.callback');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- within a transaction, may_process sees its own objection, and forgets it on rollback
BEGIN;
SELECT may_process('1', 'support') AS before;
SELECT withdraw_consent('1', 'support') > 0 AS objected;
SELECT may_process('1', 'support') AS after_own_objection;
ROLLBACK;
SELECT may_process('1', 'support') AS after_rollback;

-- a consent view of a purpose on another basis checks may_process()
CREATE TABLE cases (case_id bigint PRIMARY KEY, customer_id bigint NOT NULL, summary text);
INSERT INTO cases VALUES (1, 42, 'parcel late'), (2, 45, 'wrong size'), (3, 7, 'refund');
SELECT register_table('cases', 'customer_id');
SELECT classify('cases', 'case_id', 'system.operations');
SELECT classify('cases', 'customer_id', 'user.unique_id');
SELECT classify('cases', 'summary', 'user.contact');
SELECT create_consent_view('support_cases', 'cases', 'support');
SELECT pg_get_viewdef('support_cases'::regclass) ~ 'WHERE may_process\((t\.)?customer_id, ''support''' AS checks_may_process;
-- customers 42 and 7 objected to support (every seventh subject above)
SELECT * FROM support_cases ORDER BY case_id;
SELECT count(*) AS findings FROM review() WHERE object LIKE 'public.support_cases%';
-- and a consent purpose's view keeps has_consent()
SELECT create_consent_view('marketing_cases', 'cases', 'marketing');
SELECT pg_get_viewdef('marketing_cases'::regclass) ~ 'WHERE has_consent\((t\.)?customer_id, ''marketing''' AS checks_has_consent;
SELECT grant_consent('45', 'marketing') > 0 AS granted;
SELECT * FROM marketing_cases;

-- export_subject() says on which basis each purpose is used
SELECT e->'purposes' @> '[{"purpose": "support", "lawful_basis": "contract"}]' AS purposes_say_basis,
       e->'consents' @> '[{"purpose": "support.callback", "status": "withdrawn", "effective": false, "lawful_basis": "contract"}]'
         AS consents_say_basis
  FROM export_subject('42') AS e;

DROP TABLE subjects;
SELECT drop_consent_view('support_cases'), drop_consent_view('marketing_cases');
SELECT unregister_table('cases');
DROP TABLE cases;
