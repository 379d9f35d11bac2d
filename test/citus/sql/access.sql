--
-- Row policies on a Citus table, as README's "Scale-out with Citus" says:
-- protect() puts a distributed table's rows behind access grants on every
-- shard, where has_access() reads the node's copy of the grants that
-- distribute() keeps; the table's owner reads and erases past the
-- policies, so export_subject() and forget() still reach every row.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

SET client_min_messages = warning;
SELECT define_purpose('support', 'answering a customer''s cases', 'help with what you bought',
                      '{user.contact, user.unique_id}', lawful_basis => 'contract');
RESET client_min_messages;
CREATE ROLE citus_lead LOGIN;
CREATE ROLE citus_support;
CREATE ROLE citus_agent LOGIN IN ROLE citus_support;
CREATE TABLE tickets (ticket_id bigint, customer_id bigint NOT NULL, summary text,
                      PRIMARY KEY (customer_id, ticket_id));
ALTER TABLE tickets OWNER TO shop_owner;
SELECT create_distributed_table('tickets', 'customer_id');
INSERT INTO tickets SELECT g, g % 10, 'ticket ' || g FROM generate_series(1, 100) g;
GRANT SELECT ON tickets TO citus_support;
SELECT register_table('tickets', 'customer_id');

-- FORCE would filter the owner's erasure on the workers: refused
SELECT protect('tickets', force => true);
SELECT protect('tickets');
SELECT add_access_approver('citus_lead', 'tickets');

-- without a grant the agent's statement on the shards sees nothing
SET ROLE citus_agent;
SELECT count(*) AS agent_sees FROM tickets;
RESET ROLE;

-- a grant to the agent's group, decided on the coordinator, holds on every shard
SET ROLE citus_lead;
SELECT grant_access('citus_support', 'tickets', 'support', '15 minutes', 'the parcel was late') AS support_grant \gset
RESET ROLE;
SET ROLE citus_agent;
SELECT count(*) AS agent_sees, count(DISTINCT customer_id) AS customers FROM tickets;
RESET ROLE;
-- an objection to the purpose hides the customer's rows, on the shard that holds them
SELECT withdraw_consent('3', 'support', 'objection by letter') > 0 AS customer_3_objects;
SET ROLE citus_agent;
SELECT count(*) AS agent_sees, bool_or(customer_id = 3) AS sees_customer_3 FROM tickets;
RESET ROLE;

-- a revocation binds the next statement on every node
SET ROLE citus_lead;
SELECT revoke_access(:support_grant);
RESET ROLE;
SET ROLE citus_agent;
SELECT count(*) AS agent_sees_after_revoke FROM tickets;
RESET ROLE;

-- a grant inside the transaction that reads: the shards' statements run as
-- the agent, over connections that cannot see it: refused, never answered
-- as before the grant; committed, it holds
BEGIN;
SET LOCAL ROLE citus_lead;
SELECT grant_access('citus_support', 'tickets', 'support', '15 minutes', 'a second case') > 0 AS granted;
SET LOCAL ROLE citus_agent;
SELECT count(*) FROM tickets;
ROLLBACK;
SET ROLE citus_lead;
SELECT grant_access('citus_support', 'tickets', 'support', '15 minutes', 'a second case') > 0 AS granted;
RESET ROLE;
SET ROLE citus_agent;
SELECT count(*) AS agent_sees FROM tickets;
RESET ROLE;

-- FORCE added by hand: forget() stops, with nothing erased, rather than
-- miss the rows the shards' policies hide from the owner
ALTER TABLE tickets FORCE ROW LEVEL SECURITY;
SELECT forget('7');
SELECT count(*) AS tickets_of_7 FROM tickets WHERE customer_id = 7;
ALTER TABLE tickets NO FORCE ROW LEVEL SECURITY;

-- the owner reads and erases past the policies, on every shard
SELECT jsonb_array_length(export_subject('6') -> 'tables' -> 'public.tickets') AS exported_tickets;
SELECT forget('5') -> 'tables' -> 'public.tickets' AS erased_tickets;
SELECT count(*) AS tickets_of_5 FROM tickets WHERE customer_id = 5;

-- Citus cannot distribute a protected table (its policies name the
-- table, which the workers do not have yet): unprotect() first
CREATE TABLE notes (customer_id bigint, note text);
ALTER TABLE notes OWNER TO shop_owner;
INSERT INTO notes SELECT g % 10, 'note ' || g FROM generate_series(1, 20) g;
GRANT SELECT ON notes TO citus_support;
SELECT register_table('notes', 'customer_id');
SELECT protect('notes');
SET client_min_messages = warning;
SELECT create_distributed_table('notes', 'customer_id');
SELECT unprotect('notes');
SELECT create_distributed_table('notes', 'customer_id');
RESET client_min_messages;
-- on Citus, a table with policies of its own is not protected: they would
-- widen protect()'s permissive ones
CREATE POLICY notes_mine ON notes USING (true);
SELECT protect('notes');
DROP POLICY notes_mine ON notes;
SELECT protect('notes');
-- a policy added later would widen them: review() says so
CREATE POLICY notes_mine ON notes USING (true);
SELECT severity, finding FROM review() WHERE object = 'public.notes' AND finding ~ '^protected table';
DROP POLICY notes_mine ON notes;
SELECT count(*) AS findings FROM review() WHERE object = 'public.notes' AND finding ~ '^protected table';
SET ROLE citus_agent;
SELECT count(*) AS agent_sees_notes FROM notes;   -- the grant is for tickets
RESET ROLE;
SELECT unprotect('notes');
SELECT unregister_table('notes');

-- unprotect() drops the policies on every shard
SELECT unprotect('tickets');
SET ROLE citus_agent;
SELECT count(*) AS agent_sees_unprotected FROM tickets;
RESET ROLE;
SELECT unregister_table('tickets');
