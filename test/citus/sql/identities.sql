--
-- Identities that survive renames, copies written only by the extension,
-- and the writer's own transaction on a coordinator that holds shards.
--
-- The copy of the grants names each table and grantee as the coordinator
-- prints them (OIDs differ between nodes): after a table, a schema or a
-- role is renamed or dropped, the copy names them anew in the same
-- transaction, so that every node answers as the coordinator does.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

CREATE ROLE id_lead LOGIN;
CREATE ROLE id_agent LOGIN;
CREATE TABLE cards (card_id bigint, customer_id bigint NOT NULL, PRIMARY KEY (customer_id, card_id));
SELECT create_distributed_table('cards', 'customer_id');
INSERT INTO cards SELECT g, g % 10 FROM generate_series(1, 100) g;
GRANT SELECT ON cards TO id_agent;
SELECT register_table('cards', 'customer_id');
SELECT protect('cards');
SELECT add_access_approver('id_lead', 'cards');
SET ROLE id_lead;
SELECT grant_access('id_agent', 'cards', 'support', '1 hour', 'a lost card') > 0 AS granted;
RESET ROLE;

-- a new table under the old name gains nothing; the renamed one keeps its grant
ALTER TABLE cards RENAME TO cards_2025;
CREATE TABLE cards (card_id bigint, customer_id bigint NOT NULL, PRIMARY KEY (customer_id, card_id));
SELECT create_distributed_table('cards', 'customer_id');
INSERT INTO cards SELECT g, g % 10 FROM generate_series(1, 100) g;
GRANT SELECT ON cards TO id_agent;
SELECT register_table('cards', 'customer_id');
SELECT protect('cards');
SELECT relid, grantee FROM access_grant_replica WHERE grantee LIKE 'id\_%' ORDER BY grant_id;
\c - id_agent
SET search_path = public, personalize;
SELECT count(*) AS new_cards_seen FROM cards;
SELECT has_access('cards', 1) AS coordinator_says;
SELECT count(*) AS renamed_cards_seen FROM cards_2025;
SELECT has_access('cards_2025', 1) AS coordinator_says;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- another schema, then the schema renamed: the grant follows on every node
CREATE SCHEMA archive;
GRANT USAGE ON SCHEMA archive TO id_agent;
ALTER TABLE cards_2025 SET SCHEMA archive;
SELECT relid FROM access_grant_replica WHERE grantee = 'id_agent';
ALTER SCHEMA archive RENAME TO attic;
SELECT relid FROM access_grant_replica WHERE grantee = 'id_agent';
\c - id_agent
SELECT count(*) AS moved_cards_seen FROM attic.cards_2025;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the grantee renamed, and a new role under its old name: the grant stays
-- with the renamed role everywhere; the new role reads nothing
ALTER ROLE id_agent RENAME TO id_agent_left;
CREATE ROLE id_agent LOGIN;
GRANT USAGE ON SCHEMA attic TO id_agent;
GRANT SELECT ON attic.cards_2025 TO id_agent;
SELECT relid, grantee FROM access_grant_replica WHERE grantee LIKE 'id\_%' ORDER BY grant_id;
\c - id_agent
SELECT count(*) AS new_role_sees FROM attic.cards_2025;
SELECT personalize.has_access('attic.cards_2025', 1) AS coordinator_says;
\c - id_agent_left
SELECT count(*) AS renamed_role_sees FROM attic.cards_2025;
SELECT personalize.has_access('attic.cards_2025', 1) AS coordinator_says;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the table dropped and created again under its name: no grant on any node
DROP TABLE attic.cards_2025;
CREATE TABLE attic.cards_2025 (card_id bigint, customer_id bigint NOT NULL, PRIMARY KEY (customer_id, card_id));
SELECT create_distributed_table('attic.cards_2025', 'customer_id');
INSERT INTO attic.cards_2025 SELECT g, g % 10 FROM generate_series(1, 100) g;
GRANT SELECT ON attic.cards_2025 TO id_agent_left;
SELECT register_table('attic.cards_2025', 'customer_id');
SELECT protect('attic.cards_2025');
SELECT count(*) AS grants_naming_it FROM access_grant_replica WHERE relid = 'attic.cards_2025';
\c - id_agent_left
SELECT count(*) AS recreated_seen FROM attic.cards_2025;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- a grantee dropped, and a role created under its name: nothing on any node
CREATE ROLE id_temp LOGIN;
GRANT SELECT ON cards TO id_temp;
SELECT add_access_approver('id_lead', 'cards');
SET ROLE id_lead;
SELECT grant_access('id_temp', 'cards', 'support', '1 hour', 'a temporary hand') > 0 AS granted;
RESET ROLE;
\c - id_temp
SELECT count(*) AS temp_sees FROM public.cards;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;
REVOKE SELECT ON cards FROM id_temp;
DROP ROLE id_temp;
SELECT grantee ~ '^[0-9]+$' AS grantee_prints_as_a_number
  FROM access_grant_replica WHERE grant_id = (SELECT max(grant_id) FROM access_grant);
CREATE ROLE id_temp LOGIN;
GRANT SELECT ON cards TO id_temp;
\c - id_temp
SELECT count(*) AS new_temp_sees FROM public.cards;
SELECT personalize.has_access('public.cards', 1) AS coordinator_says;
\c - postgres
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the copies are written only by the extension: its owner's direct
-- writes are refused on the coordinator, and on a worker's shards
\set VERBOSITY terse
UPDATE consent_replica SET state = 'g';
DELETE FROM access_grant_replica;
INSERT INTO tag_replica VALUES ('gift', 'interest', 'refused');
WITH gone AS (DELETE FROM purpose_replica RETURNING 1) SELECT count(*) FROM gone;
TRUNCATE signal_replica;
COPY offers_replica FROM '/dev/null';
-- nor through a view or a rule of the owner's
CREATE VIEW public.tags_by_hand AS SELECT * FROM personalize.tag_replica;
UPDATE public.tags_by_hand SET description = 'by hand';
CREATE TABLE public.tag_notes (tag text);
CREATE RULE copy_it AS ON INSERT TO public.tag_notes
	DO ALSO DELETE FROM personalize.tag_replica WHERE tag = NEW.tag;
INSERT INTO public.tag_notes VALUES ('gift');
DROP TABLE public.tag_notes;
DROP VIEW public.tags_by_hand;
SELECT success, regexp_replace(result, '_[0-9]+$', '_<shard>') AS result FROM run_command_on_workers($cmd$
	DO $d$
	DECLARE shard text;
	BEGIN
		SELECT c.relname INTO shard FROM pg_class c
		 WHERE c.relname ~ '^consent_replica_[0-9]+$' AND c.relnamespace = 'personalize'::regnamespace;
		EXECUTE format('DELETE FROM personalize.%I', shard);
	END
	$d$$cmd$);
\set VERBOSITY default
-- the extension's writers say so with a setting that only its owner may set
SET ROLE id_lead;
SET personalize.writing_copies = on;
RESET ROLE;
SELECT count(*) > 0 AS consent_copied FROM consent_replica;

-- the writer's own transaction on a coordinator that holds shards: with
-- local execution (Citus's default) the shard's statement runs in the
-- writer's backend and sees the change; without it, over a connection that
-- cannot see it, and stops rather than answer as before the change
SELECT citus_set_node_property(:'HOST', :PORT, 'shouldhaveshards', true);
CREATE TABLE letters (customer_id bigint, letter_id int);
SELECT create_distributed_table('letters', 'customer_id', colocate_with => 'none');
SELECT citus_set_node_property(:'HOST', :PORT, 'shouldhaveshards', false);
SELECT count(DISTINCT nodeport) AS nodes_with_shards,
       bool_or(nodeport = :PORT) AS coordinator_holds_shards
  FROM citus_shards WHERE table_name = 'letters'::regclass;
INSERT INTO letters SELECT g % 20 + 700, g FROM generate_series(1, 200) g;
SELECT count(grant_consent(g::text, 'newsletter')) AS consenting FROM generate_series(700, 719) g;
BEGIN;
SELECT withdraw_consent('703', 'newsletter') > 0 AS withdrawn;
SELECT count(*) AS seen_with_local_execution FROM letters WHERE has_consent(customer_id, 'newsletter');
ROLLBACK;
BEGIN;
SET LOCAL citus.enable_local_execution = off;
SELECT withdraw_consent('703', 'newsletter') > 0 AS withdrawn;
SELECT count(*) FROM letters WHERE has_consent(customer_id, 'newsletter');
ROLLBACK;
SELECT count(*) AS seen_after_rollback FROM letters WHERE has_consent(customer_id, 'newsletter');

-- the tables of this file leave the registry (forget() of the next files
-- would refuse them: colocated with customers, another owner's)
SELECT unprotect('cards');
SELECT unregister_table('cards');
SELECT unprotect('attic.cards_2025');
SELECT unregister_table('attic.cards_2025');
