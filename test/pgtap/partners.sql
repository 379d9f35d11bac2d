-- pgTAP: partners, custody and the ledgers as a DBA sets them up (README
-- "Partners and the chain of custody", "Tamper-evident ledgers"): the
-- schema, who may call what, and the roles: a partner-export job that calls
-- share() and reads nothing else, a DPO who reads the custody log and the
-- record of processing, an auditor who verifies the ledgers.
BEGIN;
SELECT plan(32);
SET LOCAL personalize.review_ddl = off;

-- the surface
SELECT has_function('personalize', 'register_partner',
	ARRAY['text', 'text', 'text[]', 'text[]', 'timestamp with time zone'], 'register_partner()');
SELECT has_function('personalize', 'end_partner', ARRAY['text'], 'end_partner(text)');
SELECT has_function('personalize', 'share', ARRAY['text', 'regclass'], 'share(text, regclass)');
SELECT function_returns('personalize', 'share', ARRAY['text', 'regclass'], 'setof jsonb',
	'share returns one jsonb per row');
SELECT has_function('personalize', 'recipients', ARRAY['text'], 'recipients(text)');
SELECT has_function('personalize', 'verify_ledgers', ARRAY['jsonb'], 'verify_ledgers(jsonb)');
SELECT has_function('personalize', 'ledger_digest', ARRAY[]::text[], 'ledger_digest()');
SELECT isnt_definer('personalize', 'share', ARRAY['text', 'regclass'],
	'share runs as its caller (and reads the table as its owner)');
SELECT is_definer('personalize', 'verify_ledgers', ARRAY['jsonb'],
	'verify_ledgers reads the ledgers as the extension owner');

-- every ledger is append-only and hash-chained
SELECT is_empty($$
	SELECT l FROM unnest(ARRAY['consent_event', 'access_event', 'custody_event', 'purge_event']) l
	 WHERE (SELECT count(*) FROM pg_trigger t
	         WHERE t.tgrelid = ('personalize.' || l)::regclass AND NOT t.tgisinternal
	           AND t.tgfoid IN ('personalize._ledger_guard()'::regprocedure,
	                            'personalize._ledger_chain()'::regprocedure)) <> 3
$$, 'each ledger has its chain trigger and both append-only guards');
SELECT is_empty($$
	SELECT l FROM unnest(ARRAY['consent_event', 'access_event', 'custody_event', 'purge_event']) l
	 WHERE NOT EXISTS (SELECT 1 FROM pg_index i
	                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	                   WHERE i.indrelid = ('personalize.' || l)::regclass AND i.indisunique
	                     AND i.indnatts = 1 AND a.attname = 'chain_seq')
$$, 'each ledger has a unique chain position');
SELECT col_not_null('personalize', 'custody_event', 'entry_hash', 'every custody entry has its hash');
SELECT col_type_is('personalize', 'custody_event', 'subjects', 'text[]',
	'the custody log keeps the subjects who left as pseudonyms');

-- nothing here is open to PUBLIC but the list of partners
SELECT table_privs_are('personalize', 'partners', 'public', ARRAY['SELECT'],
	'everyone may see who the partners are (the recipients a privacy notice names)');
SELECT table_privs_are('personalize', 'partner', 'public', ARRAY[]::text[],
	'the partner table itself is written by register_partner only');
SELECT table_privs_are('personalize', 'custody_event', 'public', ARRAY[]::text[],
	'nor is the custody ledger open');
SELECT table_privs_are('personalize', 'custody_log', 'public', ARRAY[]::text[],
	'nor the custody log');
SELECT table_privs_are('personalize', 'record_of_processing', 'public', ARRAY[]::text[],
	'nor the record of processing');

-- the roles
CREATE ROLE regress_pgtap_shop;
CREATE ROLE regress_pgtap_export;
CREATE ROLE regress_pgtap_dpo;
CREATE ROLE regress_pgtap_auditor;
GRANT EXECUTE ON FUNCTION personalize.register_table(regclass, name) TO regress_pgtap_shop;
GRANT CREATE ON SCHEMA public TO regress_pgtap_shop;
GRANT EXECUTE ON FUNCTION personalize.share(text, regclass) TO regress_pgtap_export;
GRANT SELECT ON personalize.custody_log, personalize.record_of_processing TO regress_pgtap_dpo;
GRANT EXECUTE ON FUNCTION personalize.recipients(text) TO regress_pgtap_dpo;
GRANT EXECUTE ON FUNCTION personalize.verify_ledgers(jsonb), personalize.ledger_digest()
	TO regress_pgtap_auditor;

SELECT personalize.define_purpose('partner_ads', 'ads by a partner', 'a voucher',
	ARRAY['user.contact.email', 'user.unique_id']);
SET LOCAL ROLE regress_pgtap_shop;
CREATE TABLE public.pgtap_customers (customer_id bigint PRIMARY KEY, email text, note text);
INSERT INTO public.pgtap_customers VALUES (1, 'a@example.com', 'x'), (2, 'b@example.com', 'y');
SELECT personalize.register_table('public.pgtap_customers', 'customer_id');
SECURITY LABEL FOR personalize ON COLUMN public.pgtap_customers.email IS 'user.contact.email';
RESET ROLE;
SELECT personalize.grant_consent('1', 'partner_ads');
SELECT personalize.register_partner('Acme', 'DPA-1', ARRAY['partner_ads'],
	ARRAY['user.contact.email'], now() + interval '1 year');

-- the export job: share() and nothing else
SET LOCAL ROLE regress_pgtap_export;
SELECT results_eq($$ SELECT s FROM personalize.share('Acme', 'public.pgtap_customers') s $$,
	$$ VALUES ('{"email": "a@example.com"}'::jsonb) $$,
	'export: share() hands out the agreed column of the consenting subject');
SELECT throws_ok($$ SELECT * FROM public.pgtap_customers $$, '42501', NULL,
	'export: the base table stays closed');
SELECT throws_ok($$ SELECT * FROM personalize.consent $$, '42501', NULL,
	'export: so does the consent table');
SELECT throws_ok($$ SELECT * FROM personalize.custody_log $$, '42501', NULL,
	'export: and the custody log');
SELECT throws_ok($$ SELECT personalize.register_partner('Mine', 'x', ARRAY['partner_ads'],
	ARRAY['user.contact.email'], now() + interval '1 day') $$, '42501', NULL,
	'export: cannot register a partner of its own');
SELECT throws_ok($$ SELECT personalize.end_partner('Acme') $$, '42501', NULL,
	'export: nor end one');
SELECT throws_ok($$ INSERT INTO personalize.custody_event (partner) VALUES ('x') $$, '42501', NULL,
	'export: nor write custody records');
RESET ROLE;

-- the DPO: the custody log, recipients, the record of processing
SET LOCAL ROLE regress_pgtap_dpo;
SELECT is((SELECT format('%s %s %s', partner, row_count, requested_by) FROM personalize.custody_log),
	'Acme 1 regress_pgtap_export',
	'dpo: the custody log names the partner, the rows and who asked');
SELECT results_eq($$ SELECT partner FROM personalize.recipients('1') $$,
	$$ VALUES ('Acme'::text) $$,
	'dpo: recipients() finds the partner that received subject 1');
SELECT results_eq($$ SELECT subjects_now FROM personalize.record_of_processing
                     WHERE purpose = 'partner_ads' $$,
	$$ VALUES (1::bigint) $$,
	'dpo: the record of processing counts the subjects it may use');
SELECT throws_ok($$ SELECT * FROM public.pgtap_customers $$, '42501', NULL,
	'dpo: reads no customer data');
RESET ROLE;

-- the auditor: verification and digests, not the ledgers' content
SET LOCAL ROLE regress_pgtap_auditor;
SELECT is((SELECT bool_and(intact) FROM personalize.verify_ledgers()), true,
	'auditor: every ledger verifies');
SELECT is((SELECT count(*)::int FROM personalize.verify_ledgers(personalize.ledger_digest())), 4,
	'auditor: verifies against a digest');
SELECT throws_ok($$ SELECT * FROM personalize.consent_event $$, '42501', NULL,
	'auditor: reads no ledger entry');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
