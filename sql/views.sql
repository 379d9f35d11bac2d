--
-- Consent-checked views
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
SET search_path = public, personalize;
\set SHOW_CONTEXT never

CREATE TABLE customers (
	customer_id bigint PRIMARY KEY,
	full_name   text,
	email       text,
	gender      text,
	zip         text,
	total_spent numeric,
	segment     text
);
INSERT INTO customers
	SELECT i, 'Customer ' || i, 'c' || i || '@example.com',
	       (ARRAY['f', 'm', 'x'])[1 + i % 3], lpad((10000 + i % 50)::text, 5, '0'),
	       (i * 37) % 1000, (ARRAY['new', 'regular', 'vip'])[1 + i % 3]
	  FROM generate_series(1, 10000) AS i;
ANALYZE customers;
SELECT register_table('customers', 'customer_id');
SELECT classify('customers', 'customer_id', 'user.unique_id'),
       classify('customers', 'full_name', 'user.name'),
       classify('customers', 'email', 'user.contact.email'),
       classify('customers', 'gender', 'user.demographic.gender'),
       classify('customers', 'zip', 'user.contact.address.postal_code'),
       classify('customers', 'total_spent', 'user.financial');
RESET client_min_messages;

SELECT define_purpose('newsletter', 'a monthly email', 'early access to sales',
                      '{user.unique_id, user.name, user.contact.email}');
SELECT define_purpose('reporting', 'revenue reports', 'fair prices from better planning',
                      '{user.unique_id, user.financial, user.contact.address}');
-- customers 1..10 consent to the newsletter, except 4; 2 withdrew
SELECT count(*) FROM (SELECT grant_consent(i::text, 'newsletter') FROM generate_series(1, 10) i WHERE i <> 4) g;
SELECT withdraw_consent('2', 'newsletter') > 0 AS withdrew;
SELECT count(*) FROM (SELECT grant_consent(i::text, 'reporting') FROM generate_series(1, 10000) i WHERE i % 4 <> 0) g;

-- a view: consenting subjects' rows, and only the columns the purpose needs
SELECT create_consent_view('newsletter_customers', 'customers', 'newsletter');
SELECT * FROM newsletter_customers ORDER BY customer_id;
-- (PostgreSQL 16 and later print the columns without the "t." prefix)
SELECT regexp_replace(pg_get_viewdef('newsletter_customers'::regclass), '\mt\.', '', 'g') AS definition;
SELECT reloptions FROM pg_class WHERE oid = 'newsletter_customers'::regclass;
-- sensitive data appears only where a purpose names it: financial, yes;
-- gender (sensitive, demographic), no; postal code under user.contact.address, yes
CREATE SCHEMA analytics;
SELECT create_consent_view('analytics.revenue', 'customers', 'reporting');
SELECT view, source, purpose, columns, hidden_columns FROM consent_views ORDER BY view::text;
SELECT count(*) AS consenting_rows, sum(total_spent) AS revenue FROM analytics.revenue;
-- unclassified columns: hidden by default, shown when the setting says so
SET personalize.unclassified_columns = show;
SELECT create_consent_view('newsletter_all', 'customers', 'newsletter');
RESET personalize.unclassified_columns;
SELECT columns FROM consent_views WHERE view = 'newsletter_all'::regclass;
SELECT drop_consent_view('newsletter_all');

-- consent is checked at query time
SELECT withdraw_consent('1', 'newsletter') > 0 AS withdrew;
SELECT customer_id FROM newsletter_customers ORDER BY customer_id;
SELECT grant_consent('1', 'newsletter') > 0 AS granted_again;
SELECT customer_id FROM newsletter_customers ORDER BY customer_id;

-- a point lookup by subject key uses the subject index, then checks consent
EXPLAIN (COSTS OFF) SELECT * FROM analytics.revenue WHERE customer_id = 42;
SELECT * FROM analytics.revenue WHERE customer_id = 42;
SELECT * FROM analytics.revenue WHERE customer_id = 44;

-- an analyst needs SELECT on the view only
CREATE ROLE regress_analyst;
GRANT USAGE ON SCHEMA analytics TO regress_analyst;
GRANT SELECT ON analytics.revenue TO regress_analyst;
SET ROLE regress_analyst;
SELECT count(*) FROM analytics.revenue;
SELECT count(*) FROM customers;
SELECT count(*) FROM newsletter_customers;
-- a leaky function sees only the rows the view shows, not the hidden ones
CREATE FUNCTION pg_temp.peek(id bigint) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	IF id % 4 = 0 THEN
		RAISE NOTICE 'saw hidden customer %', id;
	END IF;
	RETURN true;
END $$;
SELECT count(*) FROM analytics.revenue WHERE pg_temp.peek(customer_id);
-- nor do errors reveal them: customer 4 has no consent, so 1/(id-4) never runs on it
SELECT count(*) FROM analytics.revenue WHERE 1 / (customer_id - 4) > -1;
EXPLAIN (COSTS OFF) SELECT * FROM analytics.revenue WHERE pg_temp.peek(customer_id);
DROP FUNCTION pg_temp.peek(bigint);
-- the rows function of the views over Citus tables answers the roles that
-- may read the view, with the view's columns only, as the view's owner
SELECT count(*), sum(total_spent) FROM _consent_view_rows('analytics.revenue')
    AS r(customer_id bigint, zip text, total_spent numeric);
SELECT count(*) FROM analytics.revenue;
SELECT * FROM _consent_view_rows('analytics.revenue') AS r(email text);
SELECT * FROM _consent_view_rows('analytics.revenue') AS r(zip integer);
SELECT * FROM _consent_view_rows('public.newsletter_customers') AS r(customer_id bigint);
SELECT * FROM _consent_view_rows('analytics.no_such_view') AS r(customer_id bigint);
RESET ROLE;
SELECT * FROM _consent_view_rows('public.customers') AS r(customer_id bigint);

-- what happens when the source table changes
-- a new column is never shown by an existing view
ALTER TABLE customers ADD COLUMN phone text;
SELECT classify('customers', 'phone', 'user.contact.phone_number');
SELECT columns FROM consent_views WHERE view = 'newsletter_customers'::regclass;
-- a shown column cannot be dropped while the view exists
ALTER TABLE customers DROP COLUMN email;
-- reclassifying a shown column into a category the purpose does not allow
-- is refused; reclassifying within what it allows is fine
SELECT classify('customers', 'email', 'user.demographic.gender');
SELECT classify('customers', 'email', NULL);
SELECT classify('customers', 'full_name', 'user.name');
-- a hidden column may be reclassified freely
SELECT classify('customers', 'gender', NULL);
SELECT classify('customers', 'gender', 'user.demographic.gender');
-- the table cannot be unregistered while views use it
SELECT unregister_table('customers');
-- a rename of the source column keeps the view working
ALTER TABLE customers RENAME COLUMN full_name TO display_name;
SELECT columns FROM consent_views WHERE view = 'newsletter_customers'::regclass;
SELECT customer_id, full_name FROM newsletter_customers ORDER BY customer_id LIMIT 2;

-- bad input: each a clear error, nothing half-created
SELECT count(*) AS views_before FROM consent_view \gset
SELECT create_consent_view('v1', 'customers', 'no_such_purpose');
CREATE TABLE unregistered (id bigint, email text);
SELECT create_consent_view('v1', 'unregistered', 'newsletter');
SELECT create_consent_view('newsletter_customers', 'customers', 'newsletter');
SELECT create_consent_view('bad name; DROP TABLE customers', 'customers', 'newsletter');
SELECT create_consent_view('a.b.c', 'customers', 'newsletter');
SELECT create_consent_view('no_such_schema.v1', 'customers', 'newsletter');
SELECT create_consent_view('v1', 'customers', 'personalization');
SELECT create_consent_view('v1', 'no_such_table', 'newsletter');
SELECT create_consent_view(NULL, 'customers', 'newsletter');
CREATE SCHEMA locked;
CREATE ROLE regress_creator;
GRANT SELECT ON customers TO regress_creator;
SET ROLE regress_creator;
SELECT create_consent_view('locked.v1', 'customers', 'newsletter');
RESET ROLE;
REVOKE SELECT ON customers FROM regress_creator;
SET ROLE regress_creator;
SELECT create_consent_view('v1', 'customers', 'newsletter');
RESET ROLE;
SELECT count(*) = :views_before AS nothing_created FROM consent_view;
SELECT count(*) AS no_stray_views FROM pg_class WHERE relname = 'v1';
SELECT drop_consent_view('customers');
SELECT drop_consent_view('no_such_view');
SELECT drop_consent_view(999999::oid::regclass);

-- a consent view in a temporary schema would leave the registry without a
-- trace when the session ends: refused
SELECT create_consent_view('pg_temp.temp_newsletter', 'customers', 'newsletter');
SET search_path = pg_temp, public, personalize;
SELECT create_consent_view('temp_newsletter', 'customers', 'newsletter');
SET search_path = public, personalize;
-- a temporary table of the view's name does not take the view's place in
-- the registry
CREATE TEMP TABLE shadowed (customer_id bigint);
SELECT create_consent_view('shadowed', 'customers', 'newsletter') IS NOT NULL AS created;
SELECT n.nspname, c.relname, c.relkind FROM consent_views v
  JOIN pg_class c ON c.oid = v.view JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = 'shadowed';
SELECT drop_consent_view('public.shadowed');
DROP TABLE pg_temp.shadowed;

-- a consent view its owner redefined is reported by review(): rows that no
-- longer pass has_consent(), columns that are not plain columns of the
-- source, a lost security barrier, other relations
SELECT create_consent_view('redefined', 'customers', 'newsletter');
SELECT columns FROM consent_views WHERE view = 'redefined'::regclass;
SELECT severity, finding FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email FROM customers t;
SELECT severity, finding, hint FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email FROM customers t
	 WHERE personalize.has_consent(t.customer_id, 'newsletter') OR true;
SELECT finding FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email FROM customers t
	 WHERE personalize.has_consent('1'::bigint, 'newsletter');
SELECT finding FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, upper(t.display_name) AS display_name, t.email FROM customers t
	 WHERE personalize.has_consent(t.customer_id, 'newsletter');
SELECT finding FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email FROM customers t
	 WHERE personalize.has_consent(t.customer_id, 'newsletter')
	 UNION ALL SELECT c.customer_id, c.display_name, c.email FROM customers c;
SELECT finding FROM review() WHERE object LIKE 'public.redefined%';
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email FROM customers t
	 WHERE personalize.has_consent(t.customer_id, 'newsletter') AND t.email LIKE '%@%';
SELECT count(*) AS narrowing_is_fine FROM review() WHERE object LIKE 'public.redefined%';
-- a column the purpose does not allow, added at the end
CREATE OR REPLACE VIEW redefined WITH (security_barrier) AS
	SELECT t.customer_id, t.display_name, t.email, t.gender FROM customers t
	 WHERE personalize.has_consent(t.customer_id, 'newsletter');
SELECT severity, object, finding FROM review() WHERE object LIKE 'public.redefined%' ORDER BY 2;
ALTER VIEW redefined SET (security_barrier = false);
SELECT finding FROM review() WHERE object = 'public.redefined';
SELECT drop_consent_view('redefined');

-- dropping: by drop_consent_view, or with the table
SELECT drop_consent_view('newsletter_customers');
SELECT view FROM consent_views;
DROP TABLE customers CASCADE;
SELECT count(*) AS views_left FROM consent_views;

DROP TABLE unregistered;
DROP SCHEMA analytics, locked;
DROP ROLE regress_analyst;
DROP ROLE regress_creator;
