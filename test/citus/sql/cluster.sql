--
-- The cluster the Citus suite runs on: a coordinator and two workers, and
-- CREATE EXTENSION personalize on the coordinator installs it on every node
--
SELECT count(*) AS workers FROM citus_get_active_worker_nodes();
SET client_min_messages = warning;
CREATE EXTENSION personalize;
RESET client_min_messages;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'personalize')
       AS coordinator_at_default
  FROM pg_extension WHERE extname = 'personalize';
SELECT success, result = (SELECT extversion FROM pg_extension WHERE extname = 'personalize') AS same_version
  FROM run_command_on_workers($$SELECT extversion FROM pg_extension WHERE extname = 'personalize'$$)
 ORDER BY nodeport;
