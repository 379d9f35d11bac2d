-- pgTAP: an analyst works through a consent view: the base table is denied,
-- the view is allowed, and it shows only consenting subjects and the
-- columns the purpose needs.
BEGIN;
SELECT plan(14);
SET LOCAL personalize.review_ddl = off;

CREATE TABLE shop_orders (order_id int PRIMARY KEY, customer_id bigint NOT NULL,
                          email text, gender text, total numeric);
INSERT INTO shop_orders SELECT i, i % 10, 'c' || i % 10 || '@example.com',
                               (ARRAY['f', 'm'])[1 + i % 2], i FROM generate_series(1, 100) i;
SELECT personalize.register_table('shop_orders', 'customer_id');
SELECT personalize.classify('shop_orders', 'order_id', 'system.operations');
SELECT personalize.classify('shop_orders', 'customer_id', 'user.unique_id');
SELECT personalize.classify('shop_orders', 'email', 'user.contact.email');
SELECT personalize.classify('shop_orders', 'gender', 'user.demographic.gender');
SELECT personalize.classify('shop_orders', 'total', 'user.behavior.purchase_history');
SELECT personalize.define_purpose('sales_report', 'sales per customer', 'better stock',
	'{system.operations, user.unique_id, user.behavior}');
SELECT personalize.grant_consent(i::text, 'sales_report') FROM generate_series(0, 4) i;
SELECT personalize.create_consent_view('sales', 'shop_orders', 'sales_report');

CREATE ROLE regress_pgtap_analyst;
GRANT SELECT ON sales TO regress_pgtap_analyst;

SELECT has_view('sales', 'the consent view exists');
SELECT columns_are('sales', ARRAY['order_id', 'customer_id', 'total'],
	'it shows only the columns the purpose needs');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = 'sales'::regclass),
	ARRAY['security_barrier=true'], 'it is a security barrier');
SELECT table_privs_are('shop_orders', 'regress_pgtap_analyst', ARRAY[]::text[],
	'the analyst has no privilege on the base table');
SELECT table_privs_are('sales', 'regress_pgtap_analyst', ARRAY['SELECT'],
	'the analyst may only read the view');
SELECT is((SELECT count(*)::int FROM personalize.consent_views WHERE view = 'sales'::regclass), 1,
	'the view is listed in consent_views');

SET ROLE regress_pgtap_analyst;
SELECT throws_ok('SELECT * FROM shop_orders', '42501', NULL,
	'analyst: base table denied');
SELECT throws_ok('SELECT email FROM sales', '42703', NULL,
	'analyst: a hidden column does not exist in the view');
SELECT lives_ok('SELECT * FROM sales', 'analyst: view allowed');
SELECT is((SELECT count(*)::int FROM sales), 50,
	'analyst: sees the rows of the 5 consenting customers only');
SELECT is((SELECT array_agg(DISTINCT customer_id ORDER BY customer_id) FROM sales),
	ARRAY[0, 1, 2, 3, 4]::bigint[], 'analyst: exactly those customers');
SELECT throws_ok('UPDATE sales SET total = 0', '42501', NULL,
	'analyst: cannot write through the view');
RESET ROLE;

SELECT personalize.withdraw_consent('3', 'sales_report');
SET ROLE regress_pgtap_analyst;
SELECT is((SELECT count(*)::int FROM sales), 40,
	'analyst: a withdrawal takes effect at the next query');
RESET ROLE;
SELECT throws_ok($$SELECT personalize.classify('shop_orders', 'total', 'user.financial')$$,
	'2BP01', NULL, 'reclassifying a shown column out of the purpose is refused');

SELECT * FROM finish();
ROLLBACK;
