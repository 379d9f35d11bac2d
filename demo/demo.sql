-- demo.sql -- a narrated walk-through of personalize on a sample retailer.
-- Run by `make demo` on a throwaway cluster; safe to read top to bottom.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET DateStyle = ISO;
\set SHOW_CONTEXT never

\echo
\echo '=== personalize: marketing personalization that earns trust ==='
\echo
\echo 'A retailer keeps customers and orders (demo/retailer.sql).'
\i retailer.sql
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SELECT customer_id, name, birth_date FROM customers ORDER BY customer_id;

\echo
\echo '--- 1. Birthdays need a month and a day, not a year ---'
\echo 'A birth date with its year reveals age, a demographic we must not target.'
\echo 'monthday keeps only MM-DD. We convert the column and the year is gone:'
ALTER TABLE customers ALTER COLUMN birth_date TYPE monthday USING birth_date::monthday;
ALTER TABLE customers RENAME COLUMN birth_date TO birthday;
SELECT customer_id, name, birthday FROM customers ORDER BY birthday;

\echo
\echo 'Whose birthday falls in the 7 days from 2026-12-28, across the new year?'
\echo '(within_days is index-friendly: it becomes birthday = ANY(...))'
CREATE INDEX ON customers (birthday);
SELECT name, birthday, next_occurrence(birthday, '2026-12-28') AS celebrate_on
  FROM customers
 WHERE within_days(birthday, '2026-12-28', 7)
 ORDER BY celebrate_on;

\echo
\echo 'Emeka was born on 02-29. In a year without February 29 the birthday'
\echo 'falls on February 28:'
SELECT name, birthday,
       next_occurrence(birthday, '2027-01-01') AS in_2027,
       next_occurrence(birthday, '2028-01-01') AS in_2028
  FROM customers WHERE birthday = '02-29';

\echo
\echo 'Bad input is refused with a clear error, never stored:'
\set ON_ERROR_STOP off
SELECT '02-30'::monthday;
\set ON_ERROR_STOP on

\echo
\echo '--- 2. Customers decide how their data is used ---'
\echo 'A purpose says what data is for and what the customer gets in return.'
\echo 'Without a value exchange it is refused:'
\set ON_ERROR_STOP off
SELECT define_purpose('profiling', 'build a profile of each customer', '');
\set ON_ERROR_STOP on
SELECT define_purpose('newsletter', 'a monthly email with news and offers',
                      'early access to sales and a birthday discount',
                      '{user.contact.email}') \g /dev/null
SELECT name, value_exchange FROM purpose ORDER BY name;

\echo
\echo 'The shop registers the tables that hold customer data:'
SELECT register_table('customers', 'customer_id'),
       register_table('orders', 'customer_id') \g /dev/null
SELECT relid AS registered_table, subject_column FROM subject_table ORDER BY 1;

\echo
\echo 'Ada, Bruno and Chen sign up for the newsletter; Dalia says no.'
SELECT grant_consent('1', 'newsletter', 'signup form v3') > 0 AS ada,
       grant_consent('2', 'newsletter', 'signup form v3') > 0 AS bruno,
       grant_consent('3', 'newsletter', 'checkout tick box') > 0 AS chen,
       withdraw_consent('4', 'newsletter', 'signup form v3') > 0 AS dalia_refused;
\echo 'The newsletter list is a query, filtered by consent at query time:'
SELECT name, email FROM customers WHERE has_consent(customer_id, 'newsletter') ORDER BY name;

\echo
\echo 'Bruno clicks "unsubscribe". Withdrawing is one call, as easy as granting,'
\echo 'and binds every statement that starts after it, in every session:'
SELECT withdraw_consent('2', 'newsletter', 'unsubscribe link') > 0 AS bruno_withdrew;
SELECT name, email FROM customers WHERE has_consent(customer_id, 'newsletter') ORDER BY name;
\echo 'The history keeps every event, with its evidence:'
SELECT subject, purpose, action, source FROM consent_history ORDER BY event_id;
\echo 'and nobody can rewrite it, not even a superuser:'
\set ON_ERROR_STOP off
UPDATE consent_event SET source = 'never unsubscribed' WHERE subject = '2';
\set ON_ERROR_STOP on

\echo
\echo '--- 3. Interests customers state, not who they are ---'
SELECT define_tag('running', description => 'running and jogging'),
       define_tag('cooking') \g /dev/null
\echo 'Targeting by gender, or by postal code (a proxy for ethnicity), is refused:'
\set ON_ERROR_STOP off
SELECT define_tag('women', 'user.demographic.gender');
SELECT define_tag('district-10115', 'user.contact.address.postal_code');
\set ON_ERROR_STOP on
\echo 'Ada likes running, and says: no cooking offers, please.'
SELECT state_intent('1', 'running', 2), state_intent('1', 'cooking', -1) \g /dev/null
SELECT subject, tag, weight FROM intent;
\echo 'Behaviour is only kept with consent to personalization:'
SELECT record_signal('1', 'running', 'view') AS kept_before_consent;
SELECT grant_consent('1', 'personalization', 'preference centre') > 0 AS ada_agrees;
SELECT record_signal('1', 'running', 'view') AS kept_after_consent;

\echo
\echo '--- 4. The right of access, and the right to be forgotten ---'
\echo 'Everything held about Ada, in one call:'
SELECT jsonb_pretty(export_subject('1') -> 'tables') AS ada_tables;
SELECT jsonb_pretty(jsonb_path_query_array(export_subject('1'), '$.consents[*].purpose')) AS ada_consents;
\echo 'Ada asks to be forgotten:'
SELECT jsonb_pretty(forget('1') - 'forgotten_at' - 'subject_pseudonym') AS forget_report;
SELECT count(*) AS ada_rows_left FROM customers WHERE customer_id = 1;
\echo 'Her consent history stays provable, under a keyed pseudonym:'
SELECT left(subject, 22) || '...' AS subject, purpose, action FROM consent_history
 WHERE subject LIKE 'pseudonym:%' ORDER BY event_id;

\echo
\echo '--- 5. Analysts see only what a purpose needs, of consenting customers ---'
\echo 'The DBA classifies the columns (SECURITY LABEL FOR personalize, or classify()):'
SELECT classify('customers', 'customer_id', 'user.unique_id'),
       classify('customers', 'name', 'user.name'),
       classify('customers', 'email', 'user.contact.email'),
       classify('customers', 'postal_code', 'user.contact.address.postal_code'),
       classify('orders', 'order_id', 'system.operations'),
       classify('orders', 'customer_id', 'user.unique_id'),
       classify('orders', 'ordered_at', 'system.operations'),
       classify('orders', 'total', 'user.behavior.purchase_history') \g /dev/null
SELECT table_name, column_name, category, sensitivity FROM classified_columns ORDER BY table_name::text, column_name;

SELECT define_purpose('order_analysis', 'sales reports per order', 'better stock and fairer prices',
                      '{system.operations, user.unique_id, user.behavior}') \g /dev/null
SELECT grant_consent(c, 'order_analysis', 'preference centre') FROM unnest(ARRAY['2', '3', '6']) c \g /dev/null
SELECT create_consent_view('order_report', 'orders', 'order_analysis');
SELECT create_consent_view('newsletter_list', 'customers', 'newsletter');
\echo 'Each view shows only the columns its purpose needs:'
SELECT view, purpose, columns, hidden_columns FROM consent_views ORDER BY view::text;

CREATE ROLE demo_analyst;
GRANT SELECT ON order_report TO demo_analyst;
SET ROLE demo_analyst;
\echo 'The analyst reads the view (Bruno, Chen and Freya agreed to order analysis):'
SELECT * FROM order_report ORDER BY order_id;
\echo '...and cannot read the table behind it:'
\set ON_ERROR_STOP off
SELECT * FROM orders;
\set ON_ERROR_STOP on
RESET ROLE;
\echo 'Chen withdraws; the analyst''s next query no longer shows Chen''s order:'
SELECT withdraw_consent('3', 'order_analysis', 'preference centre') > 0 AS chen_withdrew;
SET ROLE demo_analyst;
SELECT * FROM order_report ORDER BY order_id;
RESET ROLE;

\echo
\echo '--- 6. Moments of review ---'
\echo 'A new table with personal-looking columns is noticed as it is created:'
SET client_min_messages = notice;
CREATE TABLE leads (lead_id int PRIMARY KEY, email text, date_of_birth date, campaign text);
SET client_min_messages = warning;
\echo 'and review() lists what needs attention, with hints:'
SELECT severity, object, finding FROM review();

\echo
\echo '--- 7. Offers matched to what customers said they like, with reasons ---'
\echo 'The marketing team keeps the offer catalog; each offer carries interest tags:'
SELECT define_tag('camping', description => 'camping and hiking'),
       define_tag('vegan', description => 'plant-based food'),
       define_tag('yoga') \g /dev/null
INSERT INTO offers (offer_id, title, priority) VALUES
	('running-shoes', 'Running shoes, 20% off', 5),
	('trail-socks',   'Trail socks, 3 for 2',   2),
	('cookbook',      'The weeknight cookbook', 3),
	('veggie-box',    'Vegan recipe box',       4),
	('tent',          'Two-person tent',        1),
	('yoga-mat',      'Yoga mat',               6);
INSERT INTO offer_tags (offer_id, tag, weight) VALUES
	('running-shoes', 'running', 2), ('trail-socks', 'running', 1), ('trail-socks', 'camping', 0.5),
	('cookbook', 'cooking', 1), ('veggie-box', 'cooking', 1), ('veggie-box', 'vegan', 1),
	('tent', 'camping', 1), ('yoga-mat', 'yoga', 1);
SELECT offer_id, title, priority, string_agg(tag || ' ' || weight, ', ' ORDER BY weight DESC, tag) AS tags
  FROM offers JOIN offer_tags USING (offer_id) GROUP BY 1, 2, 3 ORDER BY 1;

\echo 'Bruno agrees to personalization: he likes running and camping, and no vegan offers, please.'
\echo 'Freya agrees too: she likes cooking and plant-based food, and looked at tents last week.'
SELECT grant_consent('2', 'personalization', 'preference centre'),
       grant_consent('6', 'personalization', 'preference centre'),
       state_intent('2', 'running', 2), state_intent('2', 'camping', 1), state_intent('2', 'vegan', -1),
       state_intent('6', 'cooking', 2), state_intent('6', 'vegan', 1),
       record_signal('6', 'camping', 'view', 1, now() - interval '7 days') \g /dev/null
\echo 'Different interests, different offers, each with its reasons:'
SELECT offer_id, round(score::numeric, 2) AS score, reasons FROM match('2', 3);
SELECT offer_id, round(score::numeric, 2) AS score, reasons FROM match('6', 3);
\echo 'Freya buys the recipe box; it is not offered to her again:'
SELECT record_purchase('6', 'veggie-box') AS recorded;
SELECT offer_id, round(score::numeric, 2) AS score, reasons FROM match('6', 3);

\echo
\echo 'Chen told the shop he likes yoga, then withdrew his consent to personalization.'
\echo 'His interests are not even read: he gets the same list as everyone without consent.'
SELECT grant_consent('3', 'personalization', 'app'), state_intent('3', 'yoga', 3) \g /dev/null
\echo 'While he consented:'
SELECT offer_id, round(score::numeric, 2) AS score, reasons FROM match('3', 2);
SELECT withdraw_consent('3', 'personalization', 'app') > 0 AS chen_withdrew;
\echo 'After:'
SELECT offer_id, score, reasons FROM match('3', 3);

\echo
\echo 'The model card describes the ranking, with live figures:'
SELECT key, value FROM jsonb_each(model_card() #> '{metrics,live}')
 WHERE key IN ('offers', 'active_offers', 'subjects_with_intents', 'subjects_consenting')
 ORDER BY key;
SELECT model_card() #>> '{model_details,scoring_rule}' AS scoring_rule;

\echo
\echo '--- 8. Keep it only as long as needed ---'
\echo 'Support cases: resolved ones are kept 90 days after closing; open ones stay.'
SET personalize.review_ddl = off;
CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL,
                    closed_at timestamptz NOT NULL);
CREATE INDEX ON cases (closed_at);
INSERT INTO cases VALUES
	(1, 2, 'resolved', now() - interval '200 days'),
	(2, 3, 'resolved', now() - interval '120 days'),
	(3, 6, 'open',     now() - interval '150 days'),
	(4, 2, 'resolved', now() - interval '10 days'),
	(5, 3, 'open',     now() - interval '5 days');
SELECT register_table('cases', 'customer_id') \g /dev/null
SELECT set_retention('cases', 'closed_at', '90 days', $$status = 'resolved'$$) \g /dev/null
SELECT table_name, keep, condition FROM retention_rules;
SELECT case_id, status, date_trunc('day', now() - closed_at) AS closed_ago FROM cases ORDER BY case_id;
\echo 'A rule longer than personalize.max_retention (a year) is refused:'
\set ON_ERROR_STOP off
SELECT set_retention('cases', 'closed_at', '2 years');
\set ON_ERROR_STOP on
\echo 'A maintenance pass (the background worker makes one every personalize.naptime):'
SELECT * FROM run_maintenance();
SELECT case_id, status, date_trunc('day', now() - closed_at) AS closed_ago FROM cases ORDER BY case_id;
SELECT table_name, rows_deleted, outcome, started_by FROM purge_log;

\echo
\echo '--- 9. Staff see customer data only while they need it ---'
\echo 'Support answers cases under the contract with the customer: a purpose on'
\echo 'that lawful basis needs no consent, but a customer may object to it.'
SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
                      lawful_basis => 'contract') \g /dev/null
SELECT withdraw_consent('6', 'support', 'email to the DPO') > 0 AS freya_objects;
\echo 'The DBA protects the cases table and names the support lead as approver.'
\echo 'The agent has SELECT on the table, as before, but no grant yet:'
CREATE ROLE demo_agent;
CREATE ROLE demo_lead;
GRANT SELECT ON cases TO demo_agent;
SELECT protect('cases') \g /dev/null
SELECT add_access_approver('demo_lead', 'cases') \g /dev/null
SET ROLE demo_agent;
SELECT count(*) AS cases_the_agent_sees FROM cases;
\echo 'Customer 3 calls about a case. The agent asks for 15 minutes:'
SELECT request_access('cases', 'support', '15 minutes', 'customer 3 asks where the parcel is') AS request_id;
\echo 'and cannot approve it herself, nor grant herself access:'
\set ON_ERROR_STOP off
SELECT approve_access(1);
SELECT grant_access('demo_agent', 'cases', 'support', '15 minutes', 'I need it');
\set ON_ERROR_STOP on
RESET ROLE;
SET ROLE demo_lead;
\echo 'The lead sees the request and approves it:'
SELECT request_id, requester, table_name, purpose, valid_for, reason FROM access_requests;
SELECT approve_access(1) AS grant_id;
RESET ROLE;
SET ROLE demo_agent;
\echo 'For 15 minutes the agent reads the cases, except those of Freya, who objected:'
SELECT case_id, customer_id, status FROM cases ORDER BY case_id;
SELECT grantee, table_name, purpose, valid_until - valid_from AS valid_for, reason FROM access_grants;
RESET ROLE;
\echo 'The case is answered; the lead ends the grant early, and the agent sees nothing:'
SET ROLE demo_lead;
SELECT revoke_access(1) \g /dev/null
RESET ROLE;
SET ROLE demo_agent;
SELECT count(*) AS cases_the_agent_sees FROM cases;
RESET ROLE;
\echo 'A grant also ends on its own. A grant for 2 seconds, and the first statement after it:'
SET ROLE demo_lead;
SELECT grant_access('demo_agent', 'cases', 'support', '2 seconds', 'customer 2 calls back') \g /dev/null
RESET ROLE;
SET ROLE demo_agent;
SELECT count(*) AS cases_during_the_grant FROM cases;
SELECT pg_sleep(2.5) \g /dev/null
SELECT count(*) AS cases_after_it_ended FROM cases;
RESET ROLE;
\echo 'The access ledger records who asked, who decided, for what and how long'
\echo '(the expiry is written by the next maintenance pass; it bound at once):'
SELECT * FROM run_maintenance() \g /dev/null
SELECT event_id, action, actor, grantee, purpose, valid_until - valid_from AS valid_for, reason
  FROM access_history WHERE action NOT IN ('protect', 'add_approver') ORDER BY event_id;

\echo
\echo '--- 10. Partners get only what the agreement covers, and we know where it went ---'
\echo 'An advertising partner signs a data processing agreement: it may use data for'
\echo 'partner ads, and receive customer ids and e-mail addresses, for a year.'
SELECT define_purpose('partner_ads', 'ads for our offers, shown by our advertising partner',
                      'a 10% voucher', '{user.unique_id, user.contact.email}') \g /dev/null
SELECT register_partner('Acme Ads', 'DPA-2026-017', '{partner_ads}',
                        '{user.unique_id, user.contact.email}', now() + interval '1 year') \g /dev/null
SELECT partner, agreement, purposes, categories, state FROM partners;
\echo 'Bruno and Freya agree to partner ads; nobody else did.'
SELECT grant_consent(c, 'partner_ads', 'checkout') FROM unnest(ARRAY['2', '6']) c \g /dev/null
\echo 'The nightly export job may call share(), and nothing else:'
CREATE ROLE demo_export;
GRANT EXECUTE ON FUNCTION share(text, regclass) TO demo_export;
SET ROLE demo_export;
SELECT * FROM share('Acme Ads', 'customers');
\set ON_ERROR_STOP off
SELECT name FROM customers;
\set ON_ERROR_STOP on
RESET ROLE;
\echo 'The custody log records what left, for whom and under which agreement,'
\echo 'with a SHA-256 the partner can check; the subjects are pseudonyms:'
SELECT custody_id, partner, agreement, table_name, columns, row_count, subjects,
       left(digest, 16) || '...' AS digest, requested_by
  FROM custody_log;
\echo 'Bruno asks to be forgotten. forget() names the partners that must be told:'
SELECT jsonb_pretty(forget('2') -> 'partners_to_notify' #- '{0,last_shared_at}') AS partners_to_notify;

\echo 'The record of processing (GDPR Art. 30), live:'
SELECT purpose, lawful_basis, categories, retention, partners, subjects_now
  FROM record_of_processing ORDER BY purpose;
\echo
\echo 'An agreement that ended stops every share:'
SELECT end_partner('Acme Ads') \g /dev/null
\set ON_ERROR_STOP off
SELECT * FROM share('Acme Ads', 'customers');
\set ON_ERROR_STOP on

\echo
\echo '--- 11. Ledgers nobody can rewrite unnoticed ---'
\echo 'Consent history, the access ledger, the custody log and the purge ledger are'
\echo 'hash chains. The auditor keeps a digest outside the database:'
SELECT ledger_digest() AS digest \gset
SELECT key AS ledger, value->'entries' AS entries, left(value->>'head', 16) || '...' AS head
  FROM jsonb_each(:'digest'::jsonb -> 'ledgers') ORDER BY key;
\echo 'and verifies every chain against it:'
SELECT ledger, entries, intact FROM verify_ledgers(:'digest');
\echo 'A superuser switches the guard off and edits one consent event:'
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE consent_event SET source = 'paper form' WHERE chain_seq = 3;
SELECT ledger, intact, broken_at, problem FROM verify_ledgers(:'digest') WHERE NOT intact;
ROLLBACK;
\echo '(rolled back; the ledgers are intact again)'
