--
-- Nothing left behind: DROP EXTENSION (or DROP SCHEMA of its schema) on
-- a Citus coordinator drops the copies distribute() made, and Citus their
-- shards, on every node.  Runs near the end: the extension is dropped, and
-- installed again, clean.
--
\set SHOW_CONTEXT never
SELECT count(*) AS copies_distributed
  FROM pg_dist_partition WHERE logicalrelid::text LIKE 'personalize.%\_replica';
SELECT nodeid, result::int > 0 AS shards_of_copies
  FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_class
                                   WHERE relname ~ '_replica_[0-9]+$'$$)
 ORDER BY nodeid;
-- and intents and signals placed with members (placement.sql), outside
-- the extension
SELECT count(*) AS placed_copies
  FROM pg_dist_partition WHERE logicalrelid::text LIKE 'personalize.%\_by\_subject';
-- refused while the ledgers hold entries, nothing dropped
\set VERBOSITY terse
DROP EXTENSION personalize CASCADE;
\set VERBOSITY default
SELECT count(*) AS copies_still_distributed
  FROM pg_dist_partition WHERE logicalrelid::text LIKE 'personalize.%\_replica';
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION personalize CASCADE;
RESET client_min_messages;
-- no copy, no shard of one, no metadata naming one, on any node
SELECT nodeid, result AS relations_left
  FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_class
                                   WHERE relname ~ '_(replica|by_subject)(_[0-9]+)?$'
                                      OR relname ~ '_(replica|by_subject)_.*(pkey|idx)(_[0-9]+)?$'$$)
 ORDER BY nodeid;
SELECT nodeid, result AS citus_tables_left
  FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_dist_partition
                                   WHERE logicalrelid::oid NOT IN (SELECT oid FROM pg_class)
                                      OR logicalrelid::text LIKE '%replica%'$$)
 ORDER BY nodeid;
-- installed again, distribute() starts from nothing
SET client_min_messages = warning;
CREATE EXTENSION personalize;
RESET client_min_messages;
SELECT count(*) AS copies, sum(rows_copied) AS rows_copied FROM personalize.distribute();
SELECT nodeid, result::int AS shard_tables_of_consent_copy
  FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_class
                                   WHERE relname ~ '^consent_replica_[0-9]+$'$$)
 ORDER BY nodeid;

-- the same through DROP SCHEMA of the extension's schema
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP SCHEMA personalize CASCADE;
RESET personalize.drop_ledgers;
RESET client_min_messages;
SELECT nodeid, result AS relations_left
  FROM run_command_on_all_nodes($$SELECT count(*) FROM pg_class
                                   WHERE relname ~ '_replica(_[0-9]+)?$'$$)
 ORDER BY nodeid;
SET client_min_messages = warning;
CREATE EXTENSION personalize;
RESET client_min_messages;
SELECT count(*) AS copies FROM personalize.distribute();
