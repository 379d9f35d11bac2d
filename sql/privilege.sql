--
-- Least privilege: protect(), access grants, requests, the access ledger;
-- and the attacks a role without a grant tries (each must fail)
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
DROP ROLE IF EXISTS regress_owner, regress_lead, regress_support, regress_agent,
	regress_agent2, regress_outsider, regress_dpo;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
\set SHOW_CONTEXT never

CREATE ROLE regress_owner;
CREATE ROLE regress_lead;
CREATE ROLE regress_support;
CREATE ROLE regress_agent IN ROLE regress_support;
CREATE ROLE regress_agent2;
CREATE ROLE regress_outsider;
GRANT CREATE ON SCHEMA public TO regress_owner, regress_agent, regress_agent2, regress_outsider;
-- a table owner may register its tables and set their retention, as the DBA allows
GRANT EXECUTE ON FUNCTION register_table(regclass, name), unregister_table(regclass),
	set_retention(regclass, name, interval, text) TO regress_owner;

SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
                      '{user.contact, user.unique_id, system.operations}', lawful_basis => 'contract');
SELECT define_purpose('marketing', 'emails about offers', 'early access to sales', '{user.contact}');

SET ROLE regress_owner;
CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, summary text,
                    opened_at timestamptz NOT NULL DEFAULT now());
INSERT INTO cases SELECT g, g % 10, 'case ' || g, now() - (g % 3) * interval '100 days'
  FROM generate_series(1, 30) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON cases TO regress_support, regress_agent2, regress_outsider, regress_lead;
RESET ROLE;

--
-- protect()
--
SELECT protect('cases');                               -- not registered
SET ROLE regress_owner;
SELECT register_table('cases', 'customer_id');
RESET ROLE;
SET ROLE regress_outsider;
SELECT protect('cases');                               -- not the owner
RESET ROLE;
SELECT protect(NULL);
SELECT protect('cases', NULL);
SET ROLE regress_owner;
SELECT protect('cases');
SELECT protect('cases');                               -- twice
RESET ROLE;
SELECT policyname, permissive, cmd, qual, with_check FROM pg_policies
 WHERE tablename = 'cases' ORDER BY policyname;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'cases'::regclass;
SELECT relid, forced FROM protected_table;
SELECT unregister_table('cases');                      -- protected: refused

-- without a grant, nobody but the owner sees a row
SET ROLE regress_agent;
SELECT count(*) AS agent_sees FROM cases;
-- inserting needs only the INSERT privilege; reading it back needs a grant
INSERT INTO cases VALUES (31, 1, 'new case');
INSERT INTO cases VALUES (32, 1, 'new case') RETURNING case_id;
UPDATE cases SET summary = 'changed' WHERE case_id = 1;
DELETE FROM cases WHERE case_id = 1;
RESET ROLE;
SET ROLE regress_owner;
SELECT count(*) AS owner_sees, max(summary) FILTER (WHERE case_id = 1) AS case_1 FROM cases;
RESET ROLE;

-- review() reports a protection that is no longer what protect() made
SELECT count(*) AS protection_findings FROM review() WHERE finding ~ '^protected table';
SET ROLE regress_owner;
ALTER TABLE cases DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SELECT severity, object, finding, hint FROM review() WHERE finding ~ '^protected table';
SET ROLE regress_owner;
ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
DROP POLICY personalize_access_delete ON cases;
RESET ROLE;
SELECT finding FROM review() WHERE finding ~ '^protected table';
SET ROLE regress_owner;
CREATE POLICY personalize_access_delete ON cases AS PERMISSIVE FOR DELETE
	USING (personalize.has_access('public.cases', customer_id));
RESET ROLE;
SELECT finding FROM review() WHERE finding ~ '^protected table';
SET ROLE regress_owner;
DROP POLICY personalize_access_delete ON cases;
CREATE POLICY personalize_access_delete ON cases AS RESTRICTIVE FOR DELETE
	USING (personalize.has_access('public.cases', customer_id));
RESET ROLE;
SELECT count(*) AS protection_findings FROM review() WHERE finding ~ '^protected table';

--
-- approvers
--
SET ROLE regress_owner;
SELECT add_access_approver('regress_lead', 'cases');
SELECT add_access_approver('regress_lead', 'cases');   -- twice
SELECT add_access_approver('regress_lead');            -- every table: a DBA's call
RESET ROLE;
SET ROLE regress_outsider;
SELECT add_access_approver('regress_outsider', 'cases');
RESET ROLE;
SELECT add_access_approver('regress_agent2');          -- the DBA, for every table
SELECT remove_access_approver('regress_agent2');
SELECT remove_access_approver('regress_agent2');
SELECT approver, relid FROM access_approver ORDER BY 1;

--
-- grant_access(): bad input and who may grant; nothing is written
--
SET ROLE regress_lead;
SELECT grant_access('regress_support', 'cases', 'support', '0 minutes', 'case 7');
SELECT grant_access('regress_support', 'cases', 'support', '-5 minutes', 'case 7');
SELECT grant_access('regress_support', 'cases', 'support', '9 hours', 'case 7');
SELECT grant_access('regress_support', 'cases', 'support', '1 month', 'case 7');
SELECT grant_access('regress_support', 'cases', 'support', '15 minutes', '');
SELECT grant_access('regress_support', 'cases', 'support', '15 minutes', E' \t\n');
SELECT grant_access('regress_support', 'cases', 'support', '15 minutes', NULL);
SELECT grant_access('regress_support', 'cases', 'no_such_purpose', '15 minutes', 'case 7');
SELECT grant_access('regress_nobody', 'cases', 'support', '15 minutes', 'case 7');
SELECT grant_access(NULL, 'cases', 'support', '15 minutes', 'case 7');
SELECT grant_access('regress_support', 'cases', 'support', NULL, 'case 7');
SELECT grant_access('regress_support', 'purpose', 'support', '15 minutes', 'case 7');
SELECT grant_access('regress_lead', 'cases', 'support', '15 minutes', 'for me');
RESET ROLE;
SET ROLE regress_agent;
SELECT grant_access('regress_agent', 'cases', 'support', '15 minutes', 'for me');
SELECT grant_access('regress_agent2', 'cases', 'support', '15 minutes', 'a friend');
RESET ROLE;
GRANT regress_agent2 TO regress_lead;
SET ROLE regress_lead;
SELECT grant_access('regress_agent2', 'cases', 'support', '15 minutes', 'a role I am a member of');
RESET ROLE;
REVOKE regress_agent2 FROM regress_lead;
SELECT count(*) AS grants_written FROM access_grant;
SELECT count(*) AS grant_events FROM access_event WHERE action = 'grant';

--
-- a grant to a group covers its members, for the subjects whose data may
-- be used for the purpose
--
SELECT withdraw_consent('3', 'support', 'objection by letter') > 0 AS customer_3_objects;
SET ROLE regress_lead;
SELECT grant_access('regress_support', 'cases', 'support', '15 minutes', 'case 7: parcel late') AS support_grant \gset
RESET ROLE;
SET ROLE regress_agent;
SELECT count(*) AS agent_sees, count(DISTINCT customer_id) AS customers,
       bool_or(customer_id = 3) AS sees_customer_3 FROM cases;
SELECT has_access('cases', 7::bigint) AS for_7, has_access('cases', 3::bigint) AS for_3,
       has_access('cases', '7') AS for_7_text;
UPDATE cases SET summary = 'answered' WHERE case_id = 7;
UPDATE cases SET customer_id = 3 WHERE case_id = 7;      -- into a row it could not see
SELECT grantee, table_name, purpose, reason, granted_by FROM access_grants;
RESET ROLE;
SET ROLE regress_agent2;
SELECT count(*) AS agent2_sees FROM cases;              -- not in the group
SELECT count(*) AS agent2_sees_grants FROM access_grants;
RESET ROLE;
-- a consent purpose needs the subject's consent
SET ROLE regress_lead;
SELECT grant_access('regress_agent2', 'cases', 'marketing', '15 minutes', 'newsletter check') AS mk_grant \gset
RESET ROLE;
SELECT grant_consent('4', 'marketing', 'signup') > 0 AS customer_4_consents;
SET ROLE regress_agent2;
SELECT array_agg(DISTINCT customer_id) AS agent2_customers FROM cases;
RESET ROLE;

--
-- revoke_access()
--
SET ROLE regress_outsider;
SELECT revoke_access(:mk_grant);
RESET ROLE;
SELECT revoke_access(999999);
SELECT revoke_access(NULL);
SET ROLE regress_agent2;
SELECT revoke_access(:mk_grant);                         -- the grantee gives it up
SELECT count(*) AS agent2_after_revoke FROM cases;
RESET ROLE;
\set VERBOSITY terse
SELECT revoke_access(:mk_grant);                         -- twice (the detail says when)
\set VERBOSITY default
SELECT action, actor, grantee, table_name, purpose, reason, grant_id IS NOT NULL AS has_grant
  FROM access_history WHERE action IN ('grant', 'revoke') ORDER BY event_id;

--
-- expiry binds the first statement after it, inside a transaction opened
-- before it too; a statement's visibility follows its start time
--
SET ROLE regress_lead;
SELECT revoke_access(:support_grant);
SELECT grant_access('regress_agent', 'cases', 'support', '3 seconds', 'quick look') AS short_grant \gset
RESET ROLE;
SELECT valid_until AS short_until FROM access_grant WHERE grant_id = :short_grant \gset
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL ROLE regress_agent;
SELECT (count(*) > 0) = (statement_timestamp() < :'short_until'::timestamptz) AS visibility_follows_window
  FROM cases;
SELECT true AS waited FROM pg_sleep_until(:'short_until'::timestamptz + interval '50 ms');
SELECT count(*) AS after_expiry FROM cases;
COMMIT;
SELECT grant_id = :short_grant AS expired_grant_listed FROM access_grants;
-- the maintenance pass records the expiry and the use
SELECT duty, affected FROM run_maintenance() WHERE duty = 'expire_grants';
SELECT action, grantee, reason IS NULL AS no_reason FROM access_history
 WHERE grant_id = :short_grant ORDER BY event_id;
-- (uses are counted only when the library is preloaded, as make test
-- does; installcheck may run on a server that does not)
SELECT grant_id = :support_grant AS support_grant,
       CASE WHEN _grant_use_tracked() THEN uses > 0 AND last_used_at IS NOT NULL
            ELSE uses = 0 AND last_used_at IS NULL END AS uses_as_tracked
  FROM access_grant WHERE grant_id IN (:support_grant, :mk_grant) ORDER BY grant_id;

--
-- requests: asked by the role that needs it, decided by another
--
SET ROLE regress_owner;
REVOKE SELECT ON cases FROM regress_outsider;
RESET ROLE;
SET ROLE regress_outsider;
SELECT request_access('cases', 'support', '15 minutes', 'curious');   -- no SELECT privilege
RESET ROLE;
SET ROLE regress_agent;
SELECT request_access('cases', 'support', '15 minutes', '');
SELECT request_access('cases', 'support', '1 day', 'case 12');
SELECT request_access('cases', 'support', '15 minutes', 'case 12: wrong size') AS req \gset
SELECT approve_access(:req);                              -- not an approver
SELECT requester, table_name, purpose, valid_for, reason FROM access_requests;
RESET ROLE;
SET ROLE regress_agent2;
SELECT count(*) AS agent2_sees_requests FROM access_requests;
RESET ROLE;
-- an approver's own request: another approver decides it
SET ROLE regress_lead;
SELECT request_access('cases', 'support', '10 minutes', 'audit of case 9') AS lead_req \gset
SELECT approve_access(:lead_req);
SELECT deny_access(:lead_req, 'mine');
RESET ROLE;
GRANT regress_agent TO regress_agent2;
SELECT add_access_approver('regress_agent2', 'cases');
SET ROLE regress_agent2;
SELECT approve_access(:req);                              -- a request of a role it is a member of
RESET ROLE;
REVOKE regress_agent FROM regress_agent2;
SELECT remove_access_approver('regress_agent2', 'cases');
SET ROLE regress_lead;
SELECT requester, purpose, reason FROM access_requests;
SELECT approve_access(:req) AS approved_grant \gset
\set VERBOSITY terse
SELECT approve_access(:req);                              -- twice (the detail says when)
SELECT deny_access(:req, 'too late');
\set VERBOSITY default
SELECT approve_access(424242);
RESET ROLE;
SET ROLE regress_agent;
SELECT count(*) > 0 AS agent_sees_after_approval FROM cases;
SELECT request_access('cases', 'support', '15 minutes', 'case 13') AS req2 \gset
RESET ROLE;
SET ROLE regress_lead;
SELECT deny_access(:req2, NULL);
SELECT deny_access(:req2, 'case 13 is closed');
RESET ROLE;
SELECT request_id = :req AS first, state, decided_by, decision_reason, grant_id = :approved_grant AS made_grant
  FROM access_request WHERE request_id IN (:req, :req2) ORDER BY request_id;
SELECT action, actor, grantee, reason FROM access_history
 WHERE request_id IN (:req, :req2) ORDER BY event_id;

--
-- attacks by a role that may read the table but holds no grant
--
SET ROLE regress_lead;
SELECT revoke_access(:approved_grant);
SELECT grant_access('regress_agent2', 'cases', 'support', '15 minutes', 'case 20') AS agent2_grant \gset
RESET ROLE;
SET ROLE regress_agent;
-- its own grant cannot be made, widened or extended
SELECT grant_access('regress_agent', 'cases', 'support', '8 hours', 'more');
UPDATE personalize.access_grant SET valid_until = valid_until + interval '8 hours';
INSERT INTO personalize.access_grant (relid, grantee, purpose_id, valid_from, valid_until, reason, granted_by)
VALUES ('cases', 'regress_agent', 1, now(), now() + interval '1 hour', 'x', 'x');
DELETE FROM personalize.access_event;
-- a SECURITY DEFINER helper it writes runs as itself: no grant, no rows
CREATE FUNCTION public.peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS 'SELECT count(*) FROM public.cases';
SELECT public.peek() AS through_own_definer_function;
-- a view it creates: no rows
CREATE VIEW public.all_cases AS SELECT * FROM public.cases;
SELECT count(*) AS through_own_view FROM public.all_cases;
-- COPY: refused, or no rows
COPY cases TO STDOUT;
COPY (SELECT * FROM cases) TO STDOUT;
-- a leaky function in WHERE sees no hidden row
CREATE FUNCTION public.leak(c public.cases) RETURNS boolean LANGUAGE plpgsql COST 0.0000001
	AS $$ BEGIN RAISE NOTICE 'leaked: % %', c.customer_id, c.summary; RETURN true; END $$;
SELECT count(*) AS leaky_where FROM cases c WHERE public.leak(c);
-- an error message computed from a hidden row
SELECT count(*) AS no_error FROM cases WHERE 1 / (customer_id - 3) > 0;
-- an index expression: only the owner creates indexes
CREATE INDEX ON cases (public.leak(cases));
-- objects shadowing the policy's function in public change nothing
CREATE FUNCTION public.has_access(tbl regclass, subject bigint) RETURNS boolean
	LANGUAGE sql AS 'SELECT true';
SET search_path = public, personalize;
SELECT count(*) AS after_shadowing FROM cases;
SET search_path = public, pg_catalog, personalize;
SELECT count(*) AS after_shadowing_first FROM cases;
SET search_path = public, personalize;
RESET ROLE;
-- a role holding a grant cannot hand rows out through its own function
SET ROLE regress_agent2;
SELECT count(*) > 0 AS agent2_sees FROM cases;
CREATE FUNCTION public.hand_out() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	AS 'SELECT count(*) FROM public.cases';
SELECT public.hand_out() > 0 AS agent2_through_own_function;
GRANT EXECUTE ON FUNCTION public.hand_out() TO regress_outsider;
RESET ROLE;
GRANT SELECT ON cases TO regress_outsider;
SET ROLE regress_outsider;
SELECT public.hand_out() AS outsider_through_agent2_function;
RESET ROLE;
-- nor through a view it owns
SET ROLE regress_agent2;
CREATE VIEW public.agent2_cases AS SELECT * FROM public.cases;
GRANT SELECT ON public.agent2_cases TO regress_outsider;
RESET ROLE;
SET ROLE regress_outsider;
SELECT count(*) AS outsider_through_agent2_view FROM public.agent2_cases;
RESET ROLE;
DROP VIEW public.all_cases, public.agent2_cases;
DROP FUNCTION public.peek(), public.leak(public.cases), public.has_access(regclass, bigint), public.hand_out();

--
-- FORCE: the owner too needs a grant; erasure, export and the purge
-- still see every row they act on
--
SET ROLE regress_owner;
SELECT unprotect('cases');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'cases'::regclass;
SELECT count(*) AS pending_after_unprotect FROM access_requests;
SELECT protect('cases', force => true);
SELECT count(*) AS owner_sees_forced FROM cases;
RESET ROLE;
SELECT relid, forced FROM protected_table;
SELECT jsonb_array_length(export_subject('5')->'tables'->'public.cases') AS exported_rows;
SELECT forget('5')->'tables' AS erased;
SET ROLE regress_owner;
SELECT set_retention('cases', 'opened_at', '90 days');
RESET ROLE;
SELECT purge('cases') AS purged;
SET ROLE regress_owner;
SET row_security = off;
SELECT count(*) AS owner_without_row_security FROM cases;
RESET row_security;
RESET ROLE;
SELECT count(*) AS left_after_purge, min(opened_at) > now() - interval '90 days' AS only_recent FROM cases;

--
-- review: a sensitive table left unprotected; a grant never used; access
-- that is always renewed
--
CREATE TABLE patients (patient_id bigint PRIMARY KEY, diagnosis text);
SELECT register_table('patients', 'patient_id');
SELECT classify('patients', 'diagnosis', 'user.health_and_medical');
INSERT INTO access_grant (relid, grantee, purpose_id, valid_from, valid_until, reason, granted_by)
SELECT 'cases', 'regress_agent2', (SELECT purpose_id FROM purpose WHERE name = 'support'),
       now() - (4 - i) * interval '1 hour' - interval '1 hour', now() - (4 - i) * interval '1 hour' + interval '5 minutes',
       'daily look', 'regress_lead'
  FROM generate_series(1, 3) i;
SELECT severity, object, finding FROM review()
 WHERE finding ~ 'protected|grant|without a break' AND finding !~ 'ended unused' ORDER BY finding;
-- the three daily grants ended unused (reported when uses are counted)
SELECT count(*) = CASE WHEN _grant_use_tracked() THEN 3 ELSE 0 END AS unused_reported
  FROM review() WHERE finding ~ 'ended unused';

-- a dropped table leaves the registries
SET ROLE regress_owner;
DROP TABLE cases;
RESET ROLE;
SELECT count(*) AS protected_left, (SELECT count(*) FROM access_grant) AS grants_left FROM protected_table;
SELECT action, table_name FROM access_history WHERE action IN ('protect', 'unprotect') ORDER BY event_id;

-- the ledger is append-only, for its owner too
UPDATE access_event SET reason = 'rewritten';
DELETE FROM access_event;
TRUNCATE access_event;

DROP TABLE patients;
REVOKE CREATE ON SCHEMA public FROM regress_owner, regress_agent, regress_agent2, regress_outsider;
REVOKE EXECUTE ON FUNCTION register_table(regclass, name), unregister_table(regclass),
	set_retention(regclass, name, interval, text) FROM regress_owner;
DROP ROLE regress_owner, regress_lead, regress_agent, regress_agent2, regress_support, regress_outsider;
