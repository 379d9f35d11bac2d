-- pgTAP: least privilege as a DBA sets it up (README "Least privilege"):
-- the functions and who may call them, the policies protect() creates, and
-- the roles of a support desk: an agent, a lead who approves, an auditor.
BEGIN;
SELECT plan(30);
SET LOCAL personalize.review_ddl = off;

-- the surface
SELECT has_function('personalize', 'has_access', ARRAY['regclass', 'bigint'], 'has_access(regclass, bigint)');
SELECT has_function('personalize', 'has_access', ARRAY['regclass', 'text'], 'has_access(regclass, text)');
SELECT has_function('personalize', 'has_access', ARRAY['regclass', 'uuid'], 'has_access(regclass, uuid)');
SELECT volatility_is('personalize', 'has_access', ARRAY['regclass', 'bigint'], 'stable',
	'has_access is stable');
SELECT is((SELECT count(*)::int FROM pg_proc
            WHERE pronamespace = 'personalize'::regnamespace AND proname = 'has_access'
              AND proparallel = 's' AND proisstrict), 3,
	'has_access is parallel safe and strict');
SELECT is_empty($$
	SELECT p.oid::regprocedure::text FROM pg_proc p
	 WHERE p.pronamespace = 'personalize'::regnamespace AND p.prosecdef
	   AND p.proname IN ('protect', 'unprotect', 'grant_access', 'revoke_access', 'request_access',
	                     'approve_access', 'deny_access', 'add_access_approver',
	                     'remove_access_approver', 'has_access')
$$, 'the access functions run as their caller, who they check');
SELECT ok(NOT has_function_privilege('public', 'personalize._expire_grants()', 'EXECUTE'),
	'the expiry duty is not executable by PUBLIC');
SELECT table_privs_are('personalize', 'access_grant', 'public', ARRAY[]::text[],
	'nobody may write or read the grants table directly');
SELECT table_privs_are('personalize', 'access_event', 'public', ARRAY[]::text[],
	'nor the access ledger');
SELECT table_privs_are('personalize', 'access_grants', 'public', ARRAY['SELECT'],
	'everyone reads the active grants they may see');

-- a support desk
CREATE ROLE regress_pgtap_owner;
CREATE ROLE regress_pgtap_agent;
CREATE ROLE regress_pgtap_lead;
CREATE ROLE regress_pgtap_auditor;
GRANT EXECUTE ON FUNCTION personalize.register_table(regclass, name) TO regress_pgtap_owner;
GRANT SELECT ON personalize.access_history TO regress_pgtap_auditor;
SELECT personalize.define_purpose('support', 'answering cases', 'help with orders',
	lawful_basis => 'contract');
CREATE TABLE public.tickets (ticket_id int PRIMARY KEY, customer_id bigint NOT NULL, body text);
INSERT INTO public.tickets SELECT i, i % 5, 'ticket ' || i FROM generate_series(1, 20) i;
ALTER TABLE public.tickets OWNER TO regress_pgtap_owner;
GRANT SELECT, UPDATE ON public.tickets TO regress_pgtap_agent, regress_pgtap_lead;

SET ROLE regress_pgtap_owner;
SELECT lives_ok($$ SELECT personalize.register_table('public.tickets', 'customer_id') $$,
	'owner: registers the table');
SELECT lives_ok($$ SELECT personalize.protect('public.tickets') $$, 'owner: protects it');
SELECT lives_ok($$ SELECT personalize.add_access_approver('regress_pgtap_lead', 'public.tickets') $$,
	'owner: names the lead an approver');
RESET ROLE;
SELECT policies_are('public', 'tickets', ARRAY['personalize_rows', 'personalize_access_select',
	'personalize_access_update', 'personalize_access_delete'], 'protect() made four policies');
SELECT policy_cmd_is('public', 'tickets', 'personalize_access_select', 'select',
	'one restricts SELECT');
SELECT is((SELECT polroles FROM pg_policy WHERE polname = 'personalize_access_select'
            AND polrelid = 'public.tickets'::regclass), '{0}'::oid[],
	'for every role');
SELECT is((SELECT polpermissive FROM pg_policy WHERE polname = 'personalize_access_select'
            AND polrelid = 'public.tickets'::regclass), false, 'and restrictively');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'public.tickets'::regclass),
	'row level security is on');

SET ROLE regress_pgtap_agent;
SELECT is((SELECT count(*)::int FROM public.tickets), 0, 'agent: no grant, no rows');
SELECT throws_ok($$ SELECT personalize.grant_access('regress_pgtap_agent', 'public.tickets', 'support', '1 hour', 'x') $$,
	'42501', NULL, 'agent: cannot grant itself access');
SELECT lives_ok($$ SELECT personalize.request_access('public.tickets', 'support', '15 minutes', 'ticket 3') $$,
	'agent: asks for 15 minutes');
SELECT throws_ok($$ SELECT personalize.approve_access(1) $$, '42501', NULL,
	'agent: cannot approve its own request');
SELECT throws_ok($$ SELECT * FROM personalize.access_history $$, '42501', NULL,
	'agent: cannot read the access ledger');
RESET ROLE;

SET ROLE regress_pgtap_lead;
SELECT is((SELECT count(*)::int FROM personalize.access_requests), 1, 'lead: sees the request');
SELECT lives_ok($$ SELECT personalize.approve_access(1) $$, 'lead: approves it');
SELECT is((SELECT count(*)::int FROM public.tickets), 0, 'lead: approving gives the lead nothing');
RESET ROLE;

SET ROLE regress_pgtap_agent;
SELECT is((SELECT count(*)::int FROM public.tickets), 20, 'agent: reads the table while the grant lasts');
SELECT throws_ok($$ UPDATE personalize.access_grant SET valid_until = valid_until + interval '1 day' $$,
	'42501', NULL, 'agent: cannot extend its grant');
RESET ROLE;

SET ROLE regress_pgtap_auditor;
SELECT results_eq($$ SELECT action FROM personalize.access_history ORDER BY event_id $$,
	ARRAY['protect', 'add_approver', 'request', 'approve', 'grant'],
	'auditor: reads every step in the ledger');
SELECT throws_ok($$ SELECT count(*) FROM public.tickets $$, '42501', NULL,
	'auditor: the ledger, not the data');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
