--
-- Registered subject tables, export and erasure
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
-- these tables are left unclassified on purpose: no DDL review notices
SET personalize.review_ddl = off;

-- a shop with customers (bigint keys), orders referencing them, and
-- newsletter subscribers keyed by email (text)
CREATE TABLE customers (customer_id bigint PRIMARY KEY, name text NOT NULL, birthday monthday);
CREATE TABLE orders (order_id int PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
                     total numeric(10,2) NOT NULL);
CREATE TABLE order_lines (order_id int NOT NULL REFERENCES orders, customer_id bigint NOT NULL REFERENCES customers,
                          item text NOT NULL);
CREATE TABLE subscribers (email text PRIMARY KEY, since date NOT NULL);
INSERT INTO customers VALUES (1, 'Ada', '03-01'), (2, 'Bruno', '12-30');
INSERT INTO orders VALUES (10, 1, 59.90), (11, 1, 120.00), (12, 2, 19.99);
INSERT INTO order_lines VALUES (10, 1, 'shoes'), (11, 1, 'jacket'), (11, 1, 'socks'), (12, 2, 'cap');
INSERT INTO subscribers VALUES ('ada@example.com', '2026-01-05'), ('bruno@example.com', '2026-02-01');

SELECT register_table('customers', 'customer_id');
SELECT register_table('orders', 'customer_id');
SELECT register_table('order_lines', 'customer_id');
SELECT register_table('subscribers', 'email');
SELECT relid, subject_column FROM subject_table ORDER BY relid::text;

-- bad registrations
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
SELECT register_table('big_orders', 'customer_id');
SELECT register_table('orders', 'no_such_column');
SELECT register_table('orders', 'ctid');
SELECT register_table('orders', 'customer_id');
SELECT register_table('pg_class', 'oid');
CREATE TEMP TABLE scratch (customer_id bigint);
SELECT register_table('scratch', 'customer_id');
CREATE TABLE tagged (tags text[], doc jsonb);
SELECT register_table('tagged', 'tags');
SELECT register_table('no_such_table', 'x');
SELECT unregister_table('tagged');
DROP TABLE tagged, scratch;
DROP VIEW big_orders;

-- the registry follows the catalogs: the subject column cannot be dropped,
-- a rename is followed, a dropped table leaves the registry
ALTER TABLE subscribers DROP COLUMN email;
ALTER TABLE subscribers RENAME COLUMN email TO email_address;
SELECT relid, subject_column FROM subject_table WHERE relid = 'subscribers'::regclass;
CREATE TABLE doomed (customer_id bigint);
SELECT register_table('doomed', 'customer_id');
DROP TABLE doomed;
SELECT count(*) AS doomed_left FROM subject_table WHERE relid::text = 'doomed';

-- consents, intents and signals of customer 1, a.k.a. ada@example.com
SELECT define_purpose('marketing', 'emails about offers', 'early access to sales', '{user.contact.email}');
SELECT grant_consent('1', 'marketing', 'signup form') > 0,
       grant_consent('1', 'personalization', 'preference centre') > 0,
       grant_consent('2', 'marketing', 'signup form') > 0;
SELECT define_tag('running');
SELECT state_intent('1', 'running', 2);
SELECT record_signal('1', 'running', 'view');

-- export: everything held about the subject
SELECT jsonb_pretty(export_subject('1') - 'exported_at'
       #- '{consents,0,updated_at}' #- '{consents,1,updated_at}'
       #- '{consent_history,0,occurred_at}' #- '{consent_history,1,occurred_at}'
       #- '{intents,0,stated_at}' #- '{signals,0,at}');
SELECT export_subject('ada@example.com') -> 'tables' AS by_email;
SELECT export_subject('nobody') - 'exported_at' AS unknown_subject;
SELECT export_subject('');

-- forget: erase the subject everywhere; deleting from orders before
-- customers (foreign keys) is worked out from the registry
SELECT subject_pseudonym('1') AS pseudonym \gset
SELECT forget('1') - 'forgotten_at' - 'forget_event_id' - 'subject_pseudonym' AS forgotten;
SELECT forget('1') ->> 'subject_pseudonym' = :'pseudonym' AS same_pseudonym;
SELECT (SELECT count(*) FROM customers WHERE customer_id = 1) AS customers,
       (SELECT count(*) FROM orders WHERE customer_id = 1) AS orders,
       (SELECT count(*) FROM order_lines WHERE customer_id = 1) AS order_lines,
       (SELECT count(*) FROM intent WHERE subject = '1') AS intents,
       (SELECT count(*) FROM signal WHERE subject = '1') AS signals,
       (SELECT count(*) FROM consent WHERE subject = '1') AS consents,
       (SELECT count(*) FROM consent_event WHERE subject = '1') AS history_naming_1;
-- the history stays, under the pseudonym: provable, no longer naming the person
SELECT purpose, action, source, subject = :'pseudonym' AS pseudonymized
  FROM consent_history WHERE subject = :'pseudonym' ORDER BY event_id;
SELECT has_consent('1', 'marketing') AS consent_after_forget;
-- the other customer is untouched
SELECT count(*) AS bruno_orders FROM orders WHERE customer_id = 2;
SELECT has_consent(2, 'marketing') AS bruno_consent;
-- a text key that is no bigint matches no row of a bigint-keyed table
SELECT forget('bruno@example.com') -> 'tables' AS by_email;
SELECT email_address FROM subscribers;
SELECT forget(NULL);
SELECT forget('  ');

-- privileges: export and erasure run as the caller, and stop before
-- touching anything when a table is out of the caller's reach
CREATE ROLE regress_dpo;
GRANT USAGE ON SCHEMA public TO regress_dpo;
GRANT EXECUTE ON FUNCTION forget(text), export_subject(text) TO regress_dpo;
GRANT SELECT ON customers, orders, order_lines, subscribers TO regress_dpo;
GRANT DELETE ON customers, orders TO regress_dpo;
SET ROLE regress_dpo;
SELECT export_subject('2') -> 'tables' -> 'public.orders' AS orders;
SELECT forget('2');
RESET ROLE;
SELECT count(*) AS bruno_still_has_orders FROM orders WHERE customer_id = 2;
-- row-level security that would hide rows also stops it
GRANT DELETE ON order_lines, subscribers TO regress_dpo;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY small_orders ON orders USING (total < 100);
SET ROLE regress_dpo;
SELECT forget('2');
RESET ROLE;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
SET ROLE regress_dpo;
SELECT forget('2') -> 'tables' AS erased_by_dpo;
-- the DPO cannot rewrite history directly
UPDATE consent_event SET source = 'x';
SELECT * FROM consent_event;
-- pseudonyms find a forgotten customer's history again: the DPO's alone
RESET ROLE;
GRANT EXECUTE ON FUNCTION subject_pseudonym(text) TO regress_dpo;
SET ROLE regress_dpo;
SELECT subject_pseudonym('2') = forget('2') ->> 'subject_pseudonym' AS same_pseudonym;
RESET ROLE;
-- a role that reads the history and was granted subject_pseudonym() by
-- mistake cannot try keys against it
CREATE ROLE regress_analyst;
GRANT EXECUTE ON FUNCTION subject_pseudonym(text) TO regress_analyst;
GRANT SELECT ON consent_history TO regress_analyst;
SET ROLE regress_analyst;
SELECT count(*) FROM consent_history h
 WHERE h.subject IN (SELECT subject_pseudonym(g::text) FROM generate_series(1, 5) g);
RESET ROLE;
DROP OWNED BY regress_analyst;
DROP ROLE regress_analyst;
-- a table its owner registered and never granted to the DPO blocks the
-- requests of the subjects it holds, not everyone's
CREATE ROLE regress_loyalty;
CREATE TABLE loyalty_cards (customer_id bigint, card text);
ALTER TABLE loyalty_cards OWNER TO regress_loyalty;
INSERT INTO loyalty_cards VALUES (3, 'gold');
SELECT register_table('loyalty_cards', 'customer_id');
-- review() says so before a request stops
SELECT severity, finding, hint FROM review() WHERE object = 'public.loyalty_cards' AND finding LIKE 'role %';
INSERT INTO customers VALUES (4, 'Dana', NULL);
SET ROLE regress_dpo;
SELECT export_subject('4') -> 'tables' AS dana_export;
SELECT forget('4') -> 'tables' AS dana_erased;
SELECT export_subject('3');
SELECT forget('3');
RESET ROLE;
SELECT count(*) AS card_kept FROM loyalty_cards;
DROP TABLE loyalty_cards;
DROP ROLE regress_loyalty;
REVOKE ALL ON customers, orders, order_lines, subscribers FROM regress_dpo;
REVOKE ALL ON SCHEMA public FROM regress_dpo;
DROP POLICY small_orders ON orders;
DROP OWNED BY regress_dpo;
DROP ROLE regress_dpo;

DROP TABLE order_lines, orders, customers, subscribers;
SELECT count(*) AS registry_empty FROM subject_table;

-- tables whose names print alike without quotes stay apart in the export
CREATE SCHEMA "a.b";
CREATE SCHEMA a;
CREATE TABLE "a.b".c (customer_id bigint, what text);
CREATE TABLE a."b.c" (customer_id bigint, what text);
INSERT INTO "a.b".c VALUES (5, 'first');
INSERT INTO a."b.c" VALUES (5, 'second');
SELECT register_table('"a.b".c', 'customer_id'), register_table('a."b.c"', 'customer_id');
SELECT jsonb_pretty(export_subject('5') -> 'tables');
SELECT forget('5') -> 'tables' AS erased;
DROP SCHEMA "a.b", a CASCADE;
