-- pgTAP: the schema's contents, and the least-privilege setup documented in
-- README.md ("Security model"): an application role that records consent
-- and intents, an auditor that reads history, and neither can rewrite it.
BEGIN;
SELECT plan(50);

-- what the schema holds
SELECT tables_are('personalize', ARRAY[
	'data_category', 'purpose', 'purpose_category', 'consent', 'consent_event',
	'pseudonym_key', 'tag', 'intent', 'signal', 'subject_table', 'consent_view',
	'personal_data_name', 'retention_rule', 'purge_run',
	'offers', 'offer_tags', 'match_catalog_version', 'match_catalog_change',
	'protected_table', 'access_approver', 'access_request', 'access_grant', 'access_event',
	'purge_event', 'partner', 'partner_purpose', 'partner_category', 'custody_event',
	'consent_replica', 'purpose_replica', 'access_grant_replica', 'offers_replica', 'offer_tags_replica', 'tag_replica',
	'data_category_replica', 'intent_replica', 'signal_replica', 'match_catalog_version_replica',
	'match_catalog_change_replica', 'copy_outbox'],
	'the schema has exactly the documented tables');
SELECT views_are('personalize', ARRAY['consents', 'consent_history', 'classified_columns',
	'consent_views', 'purge_log', 'retention_rules', 'review_check', 'maintenance_duty',
	'access_grants', 'access_requests', 'access_history', 'purge_history',
	'partners', 'custody_log', 'record_of_processing'],
	'the schema has exactly the documented views');
SELECT has_function('personalize', 'has_consent', ARRAY['text', 'text'], 'has_consent(text, text)');
SELECT has_function('personalize', 'has_consent', ARRAY['bigint', 'text'], 'has_consent(bigint, text)');
SELECT has_function('personalize', 'has_consent', ARRAY['uuid', 'text'], 'has_consent(uuid, text)');
SELECT has_function('personalize', 'may_process', ARRAY['text', 'text'], 'may_process(text, text)');
SELECT has_function('personalize', 'may_process', ARRAY['bigint', 'text'], 'may_process(bigint, text)');
SELECT has_function('personalize', 'may_process', ARRAY['uuid', 'text'], 'may_process(uuid, text)');
SELECT is_definer('personalize', 'grant_consent', ARRAY['text', 'text', 'text', 'timestamp with time zone'],
	'grant_consent writes as the extension owner');
SELECT isnt_definer('personalize', 'forget', ARRAY['text'],
	'forget runs as its caller');
SELECT isnt_definer('personalize', 'export_subject', ARRAY['text'],
	'export_subject runs as its caller');
SELECT volatility_is('personalize', 'has_consent', ARRAY['text', 'text'], 'stable',
	'has_consent is stable');
SELECT is((SELECT proparallel FROM pg_proc
            WHERE oid = 'personalize.has_consent(text, text)'::regprocedure), 's'::"char",
	'has_consent is parallel safe');
SELECT volatility_is('personalize', 'may_process', ARRAY['text', 'text'], 'stable',
	'may_process is stable');
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'personalize'::regnamespace AND proname = 'may_process'
              AND proparallel = 's' AND proisstrict), 3,
	'may_process is parallel safe and strict, as has_consent');

-- every SECURITY DEFINER function pins search_path
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'personalize'::regnamespace AND p.prosecdef
	   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
$$, 'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');

-- nothing that writes, or reads personal data, is executable by PUBLIC
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'personalize'::regnamespace
	   AND has_function_privilege('public', p.oid, 'EXECUTE')
	   AND p.proname IN ('define_category', 'define_purpose', 'grant_consent', 'withdraw_consent',
	                     'define_tag', 'state_intent', 'clear_intent', 'record_signal',
	                     'register_table', 'unregister_table', 'export_subject', 'forget',
	                     'subject_pseudonym', 'set_retention', 'drop_retention', 'purge',
	                     'run_purge', 'run_maintenance', 'register_partner', 'end_partner',
	                     'share', 'recipients', 'verify_ledgers', 'ledger_digest', 'distribute')
$$, 'writers and personal-data readers are not executable by PUBLIC');
SELECT isnt_definer('personalize', 'distribute', ARRAY['regclass'],
	'distribute runs as its caller (the extension owner)');
SELECT is_empty($$
	SELECT c.oid::regclass::text FROM pg_class c
	 WHERE c.relnamespace = 'personalize'::regnamespace AND c.relkind = 'r'
	   AND (c.relname LIKE '%\_replica' OR c.relname = 'copy_outbox')
	   AND has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
$$, 'the Citus copies and their outbox are neither readable nor writable by PUBLIC');
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'personalize'::regnamespace AND p.proname LIKE '\_%'
	   AND p.proname NOT IN ('_view_source_columns',   -- consent_views needs it
	                         '_maintenance_duties',    -- maintenance_duty needs it
	                         '_match_subject_column',  -- match_exposure (runs as its caller) needs it
	                         '_access_visible',        -- access_grants and access_requests need it
	                         '_subjects_now',          -- record_of_processing needs it (and checks it)
	                         '_consent_view_rows',     -- consent views over Citus tables (it checks the view)
	                         '_rows_open',             -- protect()'s permissive policies call it
	                         '_blank',                 -- CHECK constraints on offers, which marketers write
	                         '_require_relation')      -- classify(), detect_proxies() ... run as their caller
	   AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'internal functions are not executable by PUBLIC');
SELECT is_empty($$
	SELECT c.relname FROM pg_class c
	 WHERE c.relnamespace = 'personalize'::regnamespace AND c.relkind IN ('r', 'v')
	   AND c.relname NOT IN ('data_category', 'purpose', 'purpose_category', 'tag',
	                         'classified_columns', 'consent_view', 'consent_views',
	                         'personal_data_name', 'review_check',
	                         'retention_rules', 'maintenance_duty',
	                         'access_grants', 'access_requests', 'partners')
	   AND (has_table_privilege('public', c.oid, 'SELECT')
	        OR has_table_privilege('public', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
$$, 'consent, history, intents, signals and the key are not readable or writable by PUBLIC');
SELECT table_privs_are('personalize', 'purpose', 'public', ARRAY['SELECT'],
	'the purpose registry is readable by everyone, and only readable');

-- the documented roles
CREATE ROLE regress_app;
CREATE ROLE regress_auditor;
CREATE ROLE regress_nobody;
GRANT EXECUTE ON FUNCTION
	personalize.grant_consent(text, text, text, timestamptz),
	personalize.withdraw_consent(text, text, text),
	personalize.state_intent(text, text, real),
	personalize.clear_intent(text, text),
	personalize.record_signal(text, text, text, real, timestamptz)
	TO regress_app;
GRANT SELECT ON personalize.consents, personalize.consent_history TO regress_auditor;

SELECT personalize.define_purpose('newsletter', 'a monthly newsletter', 'news first');
SELECT personalize.define_tag('running');

-- the application records consent, intents and behaviour
SET ROLE regress_app;
SELECT lives_ok($$ SELECT personalize.grant_consent('u1', 'newsletter', 'form') $$,
	'app: grant_consent');
SELECT lives_ok($$ SELECT personalize.grant_consent('u1', 'personalization', 'form') $$,
	'app: grant consent to personalization');
SELECT lives_ok($$ SELECT personalize.withdraw_consent('u1', 'newsletter', 'link') $$,
	'app: withdraw_consent');
SELECT lives_ok($$ SELECT personalize.state_intent('u1', 'running', 2) $$,
	'app: state_intent');
SELECT lives_ok($$ SELECT personalize.record_signal('u1', 'running', 'view') $$,
	'app: record_signal');
SELECT lives_ok($$ SELECT personalize.clear_intent('u1', 'running') $$,
	'app: clear_intent');
SELECT is(personalize.has_consent('u1', 'personalization'), true,
	'app: has_consent');
SELECT throws_ok($$ SELECT * FROM personalize.consent_history $$, '42501', NULL,
	'app: cannot read consent history');
SELECT throws_ok($$ SELECT * FROM personalize.consent $$, '42501', NULL,
	'app: cannot read the consent table');
SELECT throws_ok($$ UPDATE personalize.consent_event SET source = 'forged' $$, '42501', NULL,
	'app: cannot rewrite history');
SELECT throws_ok($$ INSERT INTO personalize.consent_event (subject, purpose_id, action) VALUES ('u2', 1, 'grant') $$,
	'42501', NULL, 'app: cannot forge history');
SELECT throws_ok($$ SELECT personalize.define_purpose('p', 'd', 'v') $$, '42501', NULL,
	'app: cannot define purposes');
SELECT throws_ok($$ SELECT personalize.forget('u1') $$, '42501', NULL,
	'app: cannot erase subjects');
SELECT throws_ok($$ SELECT personalize.export_subject('u1') $$, '42501', NULL,
	'app: cannot export subjects');
RESET ROLE;

-- the auditor reads state and history, and can change nothing
SET ROLE regress_auditor;
SELECT is((SELECT count(*)::int FROM personalize.consent_history WHERE subject = 'u1'), 3,
	'auditor: reads consent history');
SELECT is((SELECT status FROM personalize.consents WHERE subject = 'u1' AND purpose = 'newsletter'),
	'withdrawn', 'auditor: reads current consent');
SELECT throws_ok($$ SELECT personalize.grant_consent('u1', 'newsletter') $$, '42501', NULL,
	'auditor: cannot grant consent');
SELECT throws_ok($$ UPDATE personalize.consent_event SET source = 'forged' $$, '42501', NULL,
	'auditor: cannot rewrite history');
SELECT throws_ok($$ DELETE FROM personalize.consent_event $$, '42501', NULL,
	'auditor: cannot delete history');
SELECT throws_ok($$ SELECT * FROM personalize.intent $$, '42501', NULL,
	'auditor: cannot read intents');
RESET ROLE;

-- a role with no grants at all
SET ROLE regress_nobody;
SELECT is(personalize.has_consent('u1', 'personalization'), true,
	'anyone may ask has_consent (analysts'' consent views need it)');
SELECT throws_ok($$ SELECT personalize.grant_consent('u1', 'newsletter') $$, '42501', NULL,
	'nobody: cannot grant consent');
SELECT throws_ok($$ SELECT personalize.withdraw_consent('u1', 'newsletter') $$, '42501', NULL,
	'nobody: cannot withdraw consent on someone''s behalf');
SELECT throws_ok($$ SELECT * FROM personalize.consents $$, '42501', NULL,
	'nobody: cannot read consents');
SELECT lives_ok($$ SELECT * FROM personalize.purpose $$,
	'nobody: can read the purposes and what customers get for them');
RESET ROLE;

-- not even the owner (a superuser here) can rewrite history
SELECT throws_ok($$ UPDATE personalize.consent_event SET source = 'forged' $$, '42501',
	'table "consent_event" is an append-only ledger', 'owner: UPDATE refused');
SELECT throws_ok($$ DELETE FROM personalize.consent_event $$, '42501',
	'table "consent_event" is an append-only ledger', 'owner: DELETE refused');
SELECT throws_ok($$ TRUNCATE personalize.consent_event $$, '42501',
	'table "consent_event" is an append-only ledger', 'owner: TRUNCATE refused');

SELECT * FROM finish();
ROLLBACK;
