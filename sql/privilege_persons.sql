--
-- Separation of duties between persons, not roles: a member of an
-- approving group who SET ROLEs to it can neither grant itself access nor
-- approve its own request, nor one of a fellow member; a role an approver
-- creates, grants access and joins stops counting at once, as does a grant
-- whose grantee is later made a member of the role that decided it; the
-- access ledger names the session user behind each actor.
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
\set SHOW_CONTEXT never

CREATE ROLE regress_p_lead;                           -- the approving group
CREATE ROLE regress_p_alice IN ROLE regress_p_lead;   -- two team leads
CREATE ROLE regress_p_bob IN ROLE regress_p_lead;
CREATE ROLE regress_p_agent;
CREATE ROLE regress_p_maker CREATEROLE;               -- an approver who creates roles
CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, note text);
INSERT INTO cases SELECT g, g, 'case ' || g FROM generate_series(1, 5) g;
GRANT SELECT ON cases TO regress_p_lead, regress_p_alice, regress_p_bob, regress_p_agent,
	regress_p_maker;
SELECT register_table('cases', 'customer_id');
SELECT protect('cases');
SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
                      lawful_basis => 'contract');
SELECT add_access_approver('regress_p_lead', 'cases');
SELECT add_access_approver('regress_p_maker', 'cases');

-- alice, acting as the group, for herself: refused
SET SESSION AUTHORIZATION regress_p_alice;
SET ROLE regress_p_lead;
SELECT grant_access('regress_p_alice', 'cases', 'support', '1 hour', 'my own case');
RESET ROLE;
SELECT count(*) AS alice_sees FROM cases;
-- her own request, approved as the group: refused
SELECT request_access('cases', 'support', '1 hour', 'case 3') AS alice_request \gset
SET ROLE regress_p_lead;
SELECT approve_access(:alice_request);
RESET ROLE;
RESET SESSION AUTHORIZATION;
-- bob, acting as the group, for alice, a member of the group: refused too
SET SESSION AUTHORIZATION regress_p_bob;
SET ROLE regress_p_lead;
SELECT approve_access(:alice_request);
SELECT grant_access('regress_p_alice', 'cases', 'support', '1 hour', 'her case');
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- the agent's request, approved by bob acting as the group: the ledger
-- names the group and bob
SET SESSION AUTHORIZATION regress_p_agent;
SELECT request_access('cases', 'support', '1 hour', 'case 4') AS agent_request \gset
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_p_bob;
SET ROLE regress_p_lead;
SELECT approve_access(:agent_request) > 0 AS approved;
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT action, actor, session_actor, grantee FROM access_history
 WHERE action IN ('request', 'approve', 'grant') ORDER BY event_id;
SELECT granter, granter_session FROM access_grant WHERE request_id = :agent_request;
SET ROLE regress_p_agent;
SELECT count(*) AS agent_sees FROM cases;
RESET ROLE;

-- the agent made a member of the group that approved: the grant stops
-- counting (the agent could have approved it), and counts again once not
GRANT regress_p_lead TO regress_p_agent;
SET ROLE regress_p_agent;
SELECT count(*) AS agent_sees FROM cases;
RESET ROLE;
REVOKE regress_p_lead FROM regress_p_agent;
SET ROLE regress_p_agent;
SELECT count(*) AS agent_sees FROM cases;
RESET ROLE;

-- an approver grants a role access, and then becomes a member of it (an
-- approver with CREATEROLE can arrange that; from PostgreSQL 16 on, the
-- role's creator holds ADMIN OPTION on it and is refused at once): the
-- grant never lets the approver read
CREATE ROLE regress_p_puppet;
SET SESSION AUTHORIZATION regress_p_maker;
SELECT grant_access('regress_p_puppet', 'cases', 'support', '1 hour', 'a helper') > 0 AS granted;
SELECT count(*) AS maker_sees FROM cases;
RESET SESSION AUTHORIZATION;
GRANT regress_p_puppet TO regress_p_maker;
SET SESSION AUTHORIZATION regress_p_maker;
SELECT count(*) AS maker_sees FROM cases;
-- and now that it belongs to the role, it cannot grant it access at all
SELECT grant_access('regress_p_puppet', 'cases', 'support', '1 hour', 'again');
RESET SESSION AUTHORIZATION;

-- alice, acting as another approving role, for the group she belongs to:
-- refused (the access would be hers)
CREATE ROLE regress_p_desk;
GRANT regress_p_desk TO regress_p_alice;
SELECT add_access_approver('regress_p_desk', 'cases');
SET SESSION AUTHORIZATION regress_p_alice;
SET ROLE regress_p_desk;
SELECT grant_access('regress_p_lead', 'cases', 'support', '1 hour', 'the team');
RESET ROLE;
RESET SESSION AUTHORIZATION;
DROP ROLE regress_p_desk;

-- a superuser acting as an approver cannot grant its own session either
CREATE ROLE regress_p_root SUPERUSER;
SET SESSION AUTHORIZATION regress_p_root;
SET ROLE regress_p_lead;
SELECT grant_access('regress_p_root', 'cases', 'support', '1 hour', 'mine');
RESET ROLE;
RESET SESSION AUTHORIZATION;
DROP ROLE regress_p_root;

DROP TABLE cases;
DROP ROLE regress_p_puppet;
DROP ROLE regress_p_agent, regress_p_alice, regress_p_bob, regress_p_lead, regress_p_maker;
