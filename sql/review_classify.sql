--
-- Classification (SECURITY LABEL FOR personalize), review() and the DDL review
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

-- creating a table with columns that look like personal data is a moment of
-- review: by default, a NOTICE per column with a hint
CREATE TABLE customers (
	customer_id bigint PRIMARY KEY,
	full_name   text,
	email       text,
	"phoneNumber" text,
	birth_date  date,
	gender      text,
	zip         text,
	total_spent numeric,
	last_ip     inet,
	notes       text
);

-- classifying: the label provider, and classify() with the same effect
SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.contact.email';
SELECT classify('customers', 'customer_id', 'user.unique_id');
SELECT classify('customers', 'full_name', 'user.name');
SELECT classify('customers', 'gender', 'user.demographic.gender');
SELECT classify('customers', 'total_spent', 'user.financial');
SELECT * FROM classified_columns ORDER BY table_name::text, column_name;
SELECT objname, label FROM pg_seclabels WHERE provider = 'personalize' ORDER BY objname;

-- a label survives a column rename, and can be changed or removed
ALTER TABLE customers RENAME COLUMN total_spent TO lifetime_value;
SELECT column_name, category FROM classified_columns WHERE category = 'user.financial';
SELECT classify('customers', 'lifetime_value', 'user.financial.bank_account');
SELECT classify('customers', 'lifetime_value', NULL);
SELECT classify('customers', 'lifetime_value', 'user.financial');
SELECT count(*) AS classified FROM classified_columns;

-- bad labels: a clear error, nothing stored
SECURITY LABEL FOR personalize ON COLUMN customers.zip IS 'user.contact.adress.postal_code';
-- the SQLSTATE of that error
\set VERBOSITY sqlstate
SECURITY LABEL FOR personalize ON COLUMN customers.zip IS 'user.contact.adress.postal_code';
\set VERBOSITY default
SECURITY LABEL FOR personalize ON COLUMN customers.zip IS 'User Contact';
SECURITY LABEL FOR personalize ON COLUMN customers.zip IS '';
SECURITY LABEL FOR personalize ON TABLE customers IS 'user.contact.email';
SECURITY LABEL FOR personalize ON COLUMN pg_class.relname IS 'user.name';
CREATE VIEW customer_emails AS SELECT customer_id, email FROM customers;
SECURITY LABEL FOR personalize ON COLUMN customer_emails.email IS 'user.contact.email';
DROP VIEW customer_emails;
SELECT classify('customers', 'no_such_column', 'user.name');
SELECT classify('no_such_table', 'x', 'user.name');
SELECT classify(NULL, 'x', 'user.name');
SELECT classify(999999::oid::regclass, 'x', 'user.name');
SELECT classify('customers', 'ctid', 'user.unique_id');
SECURITY LABEL FOR personalize ON COLUMN customers.xmin IS 'user.unique_id';
SELECT count(*) AS still_classified FROM classified_columns;
SELECT category FROM classified_columns WHERE column_name = 'zip';

-- a category added later can be used at once
SELECT define_category('user.preference.cuisine', 'personal');
CREATE TABLE tastes (customer_id bigint, cuisine text);
SELECT classify('tastes', 'cuisine', 'user.preference.cuisine');

-- review(): each finding with a severity, the object and a hint
SELECT severity, object, finding FROM review();
SELECT hint FROM review() WHERE object = 'public.customers.birth_date' ORDER BY hint;

-- a purpose that needs financial data makes the finding go away
SELECT define_purpose('loyalty', 'a loyalty programme', 'points on every purchase',
                      '{user.unique_id, user.financial}');
SELECT count(*) AS unneeded_financial FROM review()
 WHERE object = 'public.customers.lifetime_value' AND finding LIKE '%needed by no purpose%';
-- a column that holds nothing personal is classified as such, and leaves review
SELECT classify('customers', 'notes', 'system.operations');
SELECT count(*) AS notes_findings FROM review() WHERE object LIKE '%notes';

-- the DDL review sees only the columns a command adds
ALTER TABLE customers ADD COLUMN mobile text, ADD COLUMN favourite_colour text;
ALTER TABLE customers SET (fillfactor = 90);
ALTER TABLE customers ALTER COLUMN notes SET DEFAULT '';
CREATE TABLE leads AS SELECT 1 AS lead_id, 'x'::text AS emailAddress, '1990-01-01'::date AS dob;
SELECT 1 AS id, 'x'::text AS ssn INTO TEMP scratch;   -- temporary tables are not reviewed
CREATE TABLE products (product_id int, title text, price numeric);   -- nothing to say

-- review_ddl = warning
SET personalize.review_ddl = warning;
CREATE TABLE leads_w (lead_id int, iban text);
-- review_ddl = off
SET personalize.review_ddl = off;
CREATE TABLE leads_off (lead_id int, iban text);
-- review_ddl = error: the column must be classified before COMMIT
SET personalize.review_ddl = error;
CREATE TABLE leads_e (lead_id int, passport text);
SELECT to_regclass('leads_e') AS not_created;
BEGIN;
CREATE TABLE leads_e (lead_id int, passport text);
SECURITY LABEL FOR personalize ON COLUMN leads_e.passport IS 'user.government_id';
COMMIT;
SELECT to_regclass('leads_e') AS created;
BEGIN;
ALTER TABLE leads_e ADD COLUMN tax_id text, ADD COLUMN remarks text;
COMMIT;
SELECT attname FROM pg_attribute WHERE attrelid = 'leads_e'::regclass AND attnum > 0 ORDER BY attnum;
-- dropping the column in the same transaction is fine too
BEGIN;
ALTER TABLE leads_e ADD COLUMN tax_id text;
ALTER TABLE leads_e DROP COLUMN tax_id;
COMMIT;
-- only a superuser can turn it off
CREATE ROLE regress_review_user;
GRANT CREATE ON SCHEMA public TO regress_review_user;
SET ROLE regress_review_user;
SET personalize.review_ddl = off;
-- and check_function_bodies = off (what pg_dump's output sets) does not
-- turn it off either: only a superuser's restore skips the review
SET check_function_bodies = off;
CREATE TABLE sneaky (email text, passport text, ssn text);
SELECT to_regclass('sneaky') AS not_created;
-- a label with an unknown category is checked at commit instead, so that a
-- restore in one transaction, whose categories come later, still passes
BEGIN;
CREATE TABLE sneaky (note text);
SECURITY LABEL FOR personalize ON COLUMN sneaky.note IS 'user.made_up';
COMMIT;
SELECT to_regclass('sneaky') AS still_not_created;
RESET check_function_bodies;
RESET ROLE;
-- a superuser's restore (check_function_bodies = off) skips both
SET check_function_bodies = off;
CREATE TABLE restored (passport text);
SECURITY LABEL FOR personalize ON COLUMN restored.passport IS 'user.made_up';
RESET check_function_bodies;
SELECT severity, object, finding FROM review() WHERE object LIKE 'public.restored%' ORDER BY 1, 2, 3;
DROP TABLE restored;
REVOKE CREATE ON SCHEMA public FROM regress_review_user;
DROP ROLE regress_review_user;
RESET personalize.review_ddl;

-- review() runs the checks review_check lists, and no other: every
-- _review_* function is in both
SELECT p.oid::regprocedure AS check_fn,
       EXISTS (SELECT 1 FROM review_check c WHERE c.check_fn = p.oid) AS listed,
       position(p.proname IN pg_get_functiondef('review()'::regprocedure)) > 0 AS run_by_review
  FROM pg_proc p
 WHERE p.pronamespace = 'personalize'::regnamespace AND p.proname LIKE '\_review\_%'
   AND p.proname <> '_review_ddl_level'
 ORDER BY p.proname;

DROP TABLE customers, tastes, leads, leads_w, leads_off, leads_e, products, scratch;
