--
-- Partners and the chain of custody: register_partner(), share(), the
-- custody log, recipients(), forget()'s report, the record of processing
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
DROP ROLE IF EXISTS regress_shop, regress_exporter, regress_dpo;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
\set SHOW_CONTEXT never

CREATE ROLE regress_shop;
CREATE ROLE regress_exporter;
CREATE ROLE regress_dpo;
GRANT CREATE ON SCHEMA public TO regress_shop;
GRANT EXECUTE ON FUNCTION register_table(regclass, name), set_retention(regclass, name, interval, text)
	TO regress_shop;

SELECT define_purpose('partner_ads', 'ads shown by our advertising partner', 'a 10% voucher',
                      '{user.contact.email, user.unique_id, user.preference}');
SELECT define_purpose('fraud', 'stopping payment fraud', 'safe payments',
                      '{user.unique_id, user.financial}', lawful_basis => 'legitimate_interests');
SELECT define_purpose('health_offers', 'offers for a condition a customer told us about',
                      'offers that fit', '{user.health_and_medical}');

-- the shop's table, owned by its role
SET ROLE regress_shop;
CREATE TABLE customers (
	customer_id bigint PRIMARY KEY,
	email text,
	card_last4 text,
	condition text,
	loyalty text,
	note text,
	seen_at timestamptz NOT NULL DEFAULT now());
INSERT INTO customers (customer_id, email, card_last4, condition, loyalty, note)
SELECT g, 'c' || g || '@example.com', lpad((g * 37 % 10000)::text, 4, '0'),
       CASE WHEN g % 2 = 0 THEN 'diabetes' END, 'gold', 'unclassified ' || g
  FROM generate_series(1, 8) g;
SELECT register_table('customers', 'customer_id');
SELECT set_retention('customers', 'seen_at', '180 days');
SECURITY LABEL FOR personalize ON COLUMN customers.customer_id IS 'user.unique_id';
SECURITY LABEL FOR personalize ON COLUMN customers.email IS 'user.contact.email';
SECURITY LABEL FOR personalize ON COLUMN customers.card_last4 IS 'user.financial';
SECURITY LABEL FOR personalize ON COLUMN customers.condition IS 'user.health_and_medical';
SECURITY LABEL FOR personalize ON COLUMN customers.loyalty IS 'user.preference';
-- note stays unclassified
RESET ROLE;

SELECT count(grant_consent(g::text, 'partner_ads', 'checkout')) FROM generate_series(1, 4) g;
SELECT count(withdraw_consent('2', 'partner_ads', 'preference centre'));
SELECT count(grant_consent('6', 'health_offers', 'questionnaire'));
SELECT count(withdraw_consent('7', 'fraud', 'mail to the DPO'));

--
-- register_partner(): bad input, each a clear error, nothing registered
--
SELECT register_partner(NULL, 'DPA-1', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner(' Acme', 'DPA-1', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', '  ', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', E'\t', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner(U&'Acme\00A0', 'DPA-1', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', 'DPA-1', '{}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', 'DPA-1', '{partner_ads}', NULL, now() + interval '1 year');
SELECT register_partner('Acme', 'DPA-1', '{partner_ads, NULL}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', 'DPA-1', '{partner_ads}', '{user.contact.email}', NULL);
\set VERBOSITY terse
SELECT register_partner('Acme', 'DPA-1', '{partner_ads}', '{user.contact.email}', now() - interval '1 day');
\set VERBOSITY default
SELECT register_partner('Acme', 'DPA-1', '{partner_adz}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('Acme', 'DPA-1', '{partner_ads}', '{user.contact.emial}', now() + interval '1 year');
-- special-category data only for a purpose that names it
SELECT register_partner('Acme', 'DPA-1', '{partner_ads}', '{user.health_and_medical}', now() + interval '1 year');
SELECT count(*) AS partners FROM partner;

SELECT register_partner('Acme Ads', 'DPA-2026-017', '{partner_ads}',
                        '{user.contact.email, user.unique_id, user.preference}', now() + interval '1 year');
SELECT register_partner('Acme Ads', 'DPA-2026-018', '{partner_ads}', '{user.contact.email}', now() + interval '1 year');
SELECT register_partner('SafePay', 'DPA-2026-020', '{fraud}', '{user.unique_id, user.financial}',
                        now() + interval '2 years');
SELECT register_partner('CareMail', 'DPA-2026-031', '{health_offers}',
                        '{user.unique_id, user.health_and_medical}', now() + interval '6 months');
SELECT partner, agreement, purposes, categories, state FROM partners ORDER BY partner;

--
-- share(): consenting subjects only, agreed columns only
--
-- subjects 1, 3, 4 consented (2 withdrew); email, id and loyalty; never the
-- unclassified note, never the card or the condition
SELECT s FROM share('Acme Ads', 'customers') s ORDER BY s->>'customer_id';
-- legitimate interests: everyone but subject 7, who objected; id and card only
SELECT s FROM share('SafePay', 'customers') s ORDER BY (s->>'customer_id')::int;
-- special-category data: only the subject who consented to the purpose that names it
SELECT s FROM share('CareMail', 'customers') s ORDER BY s->>'customer_id';
-- unclassified columns never leave, even where consent views show them
SET personalize.unclassified_columns = 'show';
SELECT s ? 'note' AS has_note FROM share('Acme Ads', 'customers') s LIMIT 1;
RESET personalize.unclassified_columns;

-- every call left a custody record, naming nobody
SELECT custody_id, partner, agreement, table_name, columns, categories, purposes, row_count,
       subjects, length(digest) AS digest_length, requested_by
  FROM custody_log ORDER BY custody_id;
SELECT bool_and(s LIKE 'pseudonym:%') AS pseudonymous, count(*) AS subjects
  FROM custody_event, unnest(subjects) s WHERE custody_id = 1;
-- the digest is the SHA-256 of what left: each row's text and a newline
SELECT (SELECT digest FROM custody_log WHERE custody_id = 1)
       = encode(sha256(convert_to(string_agg(s::text || E'\n', '' ORDER BY s->>'customer_id'), 'UTF8')), 'hex')
       AS digest_matches
  FROM share('Acme Ads', 'customers') s;

-- a withdrawal binds the next share
SELECT count(withdraw_consent('4', 'partner_ads'));
SELECT s->>'customer_id' AS customer FROM share('Acme Ads', 'customers') s ORDER BY 1;

--
-- share(): bad input, and no custody record for a refused share
--
SELECT count(*) AS records FROM custody_event \gset
SELECT * FROM share('Nobody Inc', 'customers');
SELECT * FROM share(NULL, 'customers');
SELECT * FROM share('Acme Ads', NULL);
CREATE TABLE unregistered (customer_id bigint, email text);
SELECT * FROM share('Acme Ads', 'unregistered');
SELECT * FROM share('Acme Ads', 'pg_class');
-- an agreement that covers none of the table's columns
CREATE TABLE visits (customer_id text, page text);
SELECT register_table('visits', 'customer_id');
SELECT * FROM share('CareMail', 'visits');
-- an agreement ended by hand, or past its date
SELECT end_partner('CareMail');
-- (terse: the details name the time the agreement ended)
\set VERBOSITY terse
SELECT * FROM share('CareMail', 'customers');
SELECT end_partner('CareMail');
\set VERBOSITY default
SELECT end_partner('Nobody Inc');
UPDATE partner SET valid_from = now() - interval '2 years', valid_until = now() - interval '1 day'
 WHERE name = 'SafePay';
SELECT partner, state FROM partners ORDER BY partner;
\set VERBOSITY terse
SELECT * FROM share('SafePay', 'customers');
\set VERBOSITY default
SELECT count(*) = :records AS no_new_record FROM custody_event;
-- a new agreement with a partner whose last one ended
SELECT register_partner('CareMail', 'DPA-2027-002', '{health_offers}',
                        '{user.unique_id, user.health_and_medical}', now() + interval '1 year');
SELECT partner, agreement, state FROM partners WHERE partner = 'CareMail';

--
-- recipients() and forget(): which partners must be told
--
SELECT partner, agreement, tables, categories, shares FROM recipients('3');
SELECT partner, agreement, shares FROM recipients('6');
SELECT count(*) AS partners FROM recipients('5');
SELECT * FROM recipients('');
SELECT r.* FROM jsonb_to_recordset(export_subject('3')->'recipients')
         AS r(partner text, agreement text, tables text[], categories text[], shares int);
SELECT f->'tables' AS erased, n.*
  FROM forget('3') f,
       jsonb_to_recordset(f->'partners_to_notify') AS n(partner text, agreement text, categories text[]);
-- the custody log still names nobody, and still knows where the data went
SELECT count(*) AS partners FROM recipients('3');
SELECT partner FROM custody_event
 WHERE subjects @> ARRAY[subject_pseudonym('3')] GROUP BY partner ORDER BY partner;
SELECT ledger, intact FROM verify_ledgers() WHERE ledger = 'custody';

--
-- The record of processing (GDPR Art. 30)
--
SELECT purpose, lawful_basis, categories, retention, partners, subjects_now
  FROM record_of_processing ORDER BY purpose;

--
-- The table is read as its owner, in a restricted security context: a
-- policy of the owner's that tries to act as the caller runs as the owner
--
SET ROLE regress_shop;
CREATE TABLE reads (who name, via name);
CREATE FUNCTION note_read() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.reads VALUES (current_user, session_user);
	BEGIN
		EXECUTE 'ALTER ROLE regress_shop SUPERUSER';
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO public.reads VALUES ('refused: ' || SQLSTATE, NULL);
	END;
	RETURN true;
END
$$;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY everyone ON customers USING (note_read());
RESET ROLE;
SELECT count(*) AS rows FROM share('Acme Ads', 'customers');
SELECT DISTINCT who, via FROM reads ORDER BY 1;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_shop';
SET ROLE regress_shop;
ALTER TABLE customers DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY;
DROP POLICY everyone ON customers;
RESET ROLE;
-- a protected table, even one whose policies bind its owner, is read in
-- full: the agreement and the customers' consent decide what leaves
SET ROLE regress_shop;
SELECT protect('customers', force => true);
RESET ROLE;
SELECT count(*) AS rows FROM share('Acme Ads', 'customers');
SET ROLE regress_shop;
SELECT unprotect('customers');
RESET ROLE;

--
-- Privileges: a partner-export role calls share() and reads nothing else
--
SET ROLE regress_exporter;
SELECT * FROM share('Acme Ads', 'customers');
RESET ROLE;
GRANT EXECUTE ON FUNCTION share(text, regclass) TO regress_exporter;
SET ROLE regress_exporter;
SELECT count(*) AS rows FROM share('Acme Ads', 'customers');
SELECT * FROM customers;
SELECT * FROM custody_log;
SELECT * FROM recipients('1');
SELECT register_partner('Evil', 'none', '{partner_ads}', '{user.contact.email}', now() + interval '1 day');
SELECT end_partner('Acme Ads');
SELECT partner, state FROM partners ORDER BY partner;
SELECT * FROM record_of_processing;
SELECT * FROM _subjects_now();
RESET ROLE;
SELECT requested_by, row_count FROM custody_log ORDER BY custody_id DESC LIMIT 1;
GRANT SELECT ON record_of_processing, custody_log TO regress_dpo;
SET ROLE regress_dpo;
SELECT purpose, subjects_now FROM record_of_processing ORDER BY purpose;
SELECT count(*) AS records FROM custody_log;
RESET ROLE;

DROP TABLE customers, unregistered, visits, reads;
DROP FUNCTION note_read();
REVOKE ALL ON SCHEMA public FROM regress_shop;
REVOKE ALL ON FUNCTION register_table(regclass, name), set_retention(regclass, name, interval, text)
	FROM regress_shop;
REVOKE ALL ON FUNCTION share(text, regclass) FROM regress_exporter;
REVOKE ALL ON record_of_processing, custody_log FROM regress_dpo;
DROP ROLE regress_shop, regress_exporter, regress_dpo;
