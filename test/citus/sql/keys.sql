--
-- Subject keys of another type on Citus: a table distributed by a uuid
-- key.  has_consent(), may_process() and match() take the uuid, compare it
-- as text with the subjects of consent, and run on the shards; the
-- subject's rights and a consent view reach the table as with bigint keys.
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

-- the owners' keys: 00000000-0000-4000-8000-00000000000<n>
\set owner3 '00000000-0000-4000-8000-000000000003'
\set owner4 '00000000-0000-4000-8000-000000000004'
\set owner5 '00000000-0000-4000-8000-000000000005'
CREATE TABLE devices (device_id bigint, owner uuid NOT NULL, model text,
                      PRIMARY KEY (owner, device_id));
SELECT create_distributed_table('devices', 'owner');
INSERT INTO devices SELECT g, ('00000000-0000-4000-8000-' || lpad((g % 10)::text, 12, '0'))::uuid, 'model ' || g FROM generate_series(1, 100) g;
SELECT count(grant_consent('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'), 'newsletter')) AS consenting
  FROM generate_series(0, 9) g;
SELECT withdraw_consent(:'owner3', 'newsletter') > 0 AS withdrawn;

-- the filter on the shards, by the uuid
SELECT count(*) AS devices_consenting, count(DISTINCT owner) AS owners,
       bool_or(owner = :'owner3'::uuid) AS includes_3
  FROM devices WHERE has_consent(owner, 'newsletter');
SELECT count(*) AS devices_consenting FROM devices WHERE has_consent(owner::text, 'newsletter');
SELECT withdraw_consent(:'owner5', 'analytics') > 0 AS objected;
SELECT count(DISTINCT owner) AS owners_processable FROM devices WHERE may_process(owner, 'analytics');

-- export and erasure by the key's text
SELECT register_table('devices', 'owner');
SELECT jsonb_array_length(export_subject(:'owner4') -> 'tables' -> 'public.devices')
       AS exported_devices;
SELECT forget(:'owner4') -> 'tables' AS erased;
SELECT count(*) AS devices_of_4 FROM devices WHERE owner = :'owner4'::uuid;
SELECT has_consent(:'owner4'::uuid, 'newsletter') AS consent_of_4;

-- a consent view over it, read by an analyst
SELECT classify('devices', 'owner', 'user.unique_id');
SELECT classify('devices', 'model', 'user.device');
SET client_min_messages = warning;
SELECT define_purpose('device_care', 'reminders to update a device', 'a safer device',
                      '{user.unique_id, user.device}');
RESET client_min_messages;
SELECT count(grant_consent('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'), 'device_care')) AS consenting
  FROM generate_series(5, 9) g;
SELECT create_consent_view('device_care_devices', 'devices', 'device_care');
CREATE ROLE key_analyst LOGIN;
GRANT SELECT ON device_care_devices TO key_analyst;
SET ROLE key_analyst;
SELECT count(*) AS rows_seen, count(DISTINCT owner) AS owners_seen, min(model) AS a_model
  FROM device_care_devices;
SELECT count(*) AS rows_of_owner5 FROM device_care_devices WHERE owner = :'owner5';
RESET ROLE;

-- match() per row of it, on the shards
SELECT count(*) AS matched_rows
  FROM (SELECT DISTINCT owner FROM devices) d CROSS JOIN LATERAL match(d.owner::text, 2) m;

-- a node's first match() of a catalog version inside a parallel plan (the
-- workers' shard statements forced parallel): it answers, from an index of
-- its own for that statement, as it does once the shared index exists
SELECT result FROM run_command_on_workers(
	format('ALTER SYSTEM SET %s = on',
	       CASE WHEN current_setting('server_version_num')::int >= 160000
	            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END));
SELECT result FROM run_command_on_workers($$SELECT pg_reload_conf()$$);
UPDATE tag SET description = description WHERE false;   -- a new catalog version
SELECT count(*) AS matched_rows, count(DISTINCT d.owner) AS owners
  FROM devices d CROSS JOIN LATERAL match(d.owner::text, 1) m;
SELECT result FROM run_command_on_workers(
	format('ALTER SYSTEM RESET %s',
	       CASE WHEN current_setting('server_version_num')::int >= 160000
	            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END));
SELECT result FROM run_command_on_workers($$SELECT pg_reload_conf()$$);
SELECT count(*) AS matched_rows, count(DISTINCT d.owner) AS owners
  FROM devices d CROSS JOIN LATERAL match(d.owner::text, 1) m;
