--
-- Tamper-evident ledgers: every ledger is a hash chain; verify_ledgers()
-- names the first broken link, and with a digest kept outside the database
-- also finds a chain cut short or rewritten.  The attacks are a
-- superuser's: switch a trigger off, edit, delete, truncate, rehash.
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
DROP ROLE IF EXISTS regress_auditor;
RESET client_min_messages;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
\set SHOW_CONTEXT never

SELECT define_purpose('newsletter', 'a weekly mail with offers', 'early access to sales',
                      '{user.contact.email}');
SELECT count(grant_consent(s, 'newsletter', 'signup form'))
  FROM unnest(ARRAY['a1', 'a2', 'a3', 'a4', 'a5']) s;
SELECT count(withdraw_consent('a3', 'newsletter', 'mail footer'));

-- positions from 1, each entry names the hash of the one before it
SELECT chain_seq, subject, action,
       prev_hash = coalesce(lag(entry_hash) OVER w, '\x'::bytea || decode(repeat('00', 32), 'hex')) AS linked,
       length(entry_hash) AS hash_bytes
  FROM consent_event WINDOW w AS (ORDER BY chain_seq) ORDER BY chain_seq;
SELECT ledger, entries, head IS NOT NULL AS has_head, intact, broken_at, problem
  FROM verify_ledgers();

-- the digest an auditor keeps: each chain's length and head
SELECT ledger_digest() AS digest \gset
SELECT :'digest'::jsonb->>'format' AS format, :'digest'::jsonb->'version' AS version,
       (SELECT jsonb_object_agg(key, value->'entries') FROM jsonb_each(:'digest'::jsonb->'ledgers')) AS entries,
       :'digest'::jsonb->'ledgers'->'consent'->>'head' = (SELECT encode(entry_hash, 'hex') FROM consent_event WHERE chain_seq = 6) AS head_is_last_hash;
SELECT ledger, intact FROM verify_ledgers(:'digest');

-- the append-only guard holds for every role, superusers included
UPDATE consent_event SET source = 'forged' WHERE chain_seq = 2;
DELETE FROM consent_event WHERE chain_seq = 2;
TRUNCATE consent_event;

--
-- A superuser switches the guard off.  Each attack is rolled back after
-- verify_ledgers() has found it.
--

-- an entry edited
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE consent_event SET source = 'paper form' WHERE chain_seq = 2;
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- an entry edited, its own hash recomputed: the next entry no longer links
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE consent_event SET entry_hash = sha256('forged') WHERE chain_seq = 2;
SELECT ledger, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- an entry deleted
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
DELETE FROM consent_event WHERE chain_seq = 3;
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- two entries swapped
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE consent_event SET chain_seq = -chain_seq WHERE chain_seq IN (2, 3);
UPDATE consent_event SET chain_seq = CASE chain_seq WHEN -2 THEN 3 ELSE 2 END WHERE chain_seq < 0;
SELECT ledger, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- the chain's tail cut off: the rest is a valid chain; the consents the
-- lost entries recorded show it, and the digest names how many are gone
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
DELETE FROM consent_event WHERE chain_seq >= 5;
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers(:'digest') WHERE ledger = 'consent';
ROLLBACK;

-- the whole chain rewritten, every hash recomputed (the entries written
-- again through the chain trigger, one of them changed): only the digest
-- finds it
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
CREATE TEMP TABLE saved AS SELECT * FROM consent_event;
DELETE FROM consent_event;
INSERT INTO consent_event (event_id, subject, purpose_id, action, source, expires_at, occurred_at, recorded_by)
SELECT event_id, subject, purpose_id, action,
       CASE WHEN action = 'withdraw' THEN 'signup form' ELSE source END,
       expires_at, occurred_at, recorded_by
  FROM saved ORDER BY chain_seq;
SELECT ledger, entries, intact FROM verify_ledgers() WHERE ledger = 'consent';
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers(:'digest') WHERE ledger = 'consent';
ROLLBACK;

-- an entry added with the chain trigger off
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_chain;
ALTER TABLE consent_event ALTER chain_seq DROP NOT NULL, ALTER prev_hash DROP NOT NULL,
	ALTER entry_hash DROP NOT NULL;
INSERT INTO consent_event (subject, purpose_id, action, source)
SELECT 'a9', purpose_id, 'grant', 'backdated' FROM purpose WHERE name = 'newsletter';
SELECT ledger, entries, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- the first entry's link forged
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE consent_event SET prev_hash = sha256('') WHERE chain_seq = 1;
SELECT ledger, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- the pseudonym key replaced: no entry that names a subject verifies
BEGIN;
ALTER TABLE consent_event DISABLE TRIGGER consent_event_append_only;
UPDATE pseudonym_key SET key = sha256('another key');
SELECT ledger, intact, broken_at, problem FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;

-- after all that (rolled back), the ledgers are as the digest knew them
SELECT ledger, entries, intact FROM verify_ledgers(:'digest');

--
-- forget() pseudonymizes consent history and keeps every chain valid: an
-- entry is hashed with its subject's pseudonym, before and after
--
SELECT forget('a2')->'consent_events_pseudonymized' AS pseudonymized;
SELECT chain_seq, subject = subject_pseudonym('a2') AS pseudonymized
  FROM consent_event WHERE chain_seq IN (2, 7) ORDER BY chain_seq;
SELECT ledger, entries, intact FROM verify_ledgers(:'digest');

-- a key that looks like a pseudonym is never a customer's: the ledgers
-- would take it for an erased subject's
SELECT grant_consent('pseudonym:0123', 'newsletter');
SELECT state_intent('pseudonym:0123', 'running');

-- the pseudonym is HMAC-SHA256 (RFC 2104) under the key, as SQL computes it
WITH k AS (SELECT key || decode(repeat('00', 64 - length(key)), 'hex') AS k FROM pseudonym_key),
pads AS (
	SELECT string_agg(lpad(to_hex(get_byte(k, i) # 54), 2, '0'), '' ORDER BY i) AS ipad,
	       string_agg(lpad(to_hex(get_byte(k, i) # 92), 2, '0'), '' ORDER BY i) AS opad
	  FROM k, generate_series(0, 63) i)
SELECT 'pseudonym:' || encode(sha256(decode(opad, 'hex') ||
                                     sha256(decode(ipad, 'hex') || convert_to('a4', 'UTF8'))), 'hex')
       = subject_pseudonym('a4') AS rfc2104
  FROM pads;

--
-- Every ledger is a chain: access (protect), purge (a purge run), custody
-- (share(), in sql/partners.sql)
--
CREATE TABLE visits (customer_id bigint, seen_at timestamptz NOT NULL);
INSERT INTO visits SELECT g % 5, now() - g * interval '1 day' FROM generate_series(1, 40) g;
SELECT register_table('visits', 'customer_id');
SELECT set_retention('visits', 'seen_at', '30 days');
SELECT purge('visits');
SELECT table_name, rows_deleted, outcome FROM purge_history;
SELECT protect('visits');
SELECT action, table_name FROM access_history ORDER BY event_id;
SELECT ledger, entries, intact FROM verify_ledgers();
-- the digest taken earlier still holds: the chains only grew
SELECT ledger, intact FROM verify_ledgers(:'digest');

-- a purge that fails is in the ledger too, without its error message
INSERT INTO visits VALUES (1, now() - interval '90 days');
SELECT set_retention('visits', 'seen_at', '30 days', 'customer_id / 0 = 1');
CALL run_purge('visits');
SELECT outcome, rows_deleted FROM purge_history ORDER BY run_id;
SELECT column_name FROM information_schema.columns
 WHERE table_schema = 'personalize' AND table_name = 'purge_event' ORDER BY ordinal_position;

--
-- The chain index is found on the ledger, not by its name: a rename keeps
-- it working, and a look-alike under the old name leads nowhere
--
BEGIN;
ALTER INDEX consent_event_chain_key RENAME TO consent_event_chain_renamed;
CREATE INDEX consent_event_chain_key ON consent_event (chain_seq) WHERE chain_seq > 3;
SELECT count(grant_consent('a6', 'newsletter', 'signup form'));
SELECT ledger, entries, intact FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;
-- without its index, a chain is neither read nor written
BEGIN;
DROP INDEX consent_event_chain_key;
SELECT ledger, entries, intact FROM verify_ledgers() WHERE ledger = 'consent';
ROLLBACK;
BEGIN;
DROP INDEX consent_event_chain_key;
SELECT count(grant_consent('a7', 'newsletter', 'signup form'));
ROLLBACK;

--
-- Bad digests: refused before any chain is read
--
SELECT * FROM verify_ledgers('[]');
SELECT * FROM verify_ledgers('{"format": "something else"}');
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{version}', '2'));
SELECT * FROM verify_ledgers(:'digest'::jsonb - 'ledgers');
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,grants}', '{"entries": 1, "head": null}'));
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,consent,entries}', '-1'));
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,consent,entries}', '2.5'));
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,consent,entries}', '"6"'));
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,consent,head}', '"abc"'));
SELECT * FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,purge,head}', '"00"'));
-- a digest from before a ledger existed (no key for it) checks the others
SELECT ledger, intact FROM verify_ledgers(:'digest'::jsonb #- '{ledgers,custody}');
-- a digest of a longer chain than this one
SELECT ledger, intact, broken_at, problem
  FROM verify_ledgers(jsonb_set(:'digest', '{ledgers,consent,entries}', '100')) WHERE ledger = 'consent';

--
-- Who may verify: the extension's owner, and the roles it grants
--
CREATE ROLE regress_auditor;
SET ROLE regress_auditor;
SELECT * FROM verify_ledgers();
SELECT ledger_digest();
SELECT * FROM _verify_ledger('consent', NULL, NULL);
RESET ROLE;
GRANT EXECUTE ON FUNCTION verify_ledgers(jsonb), ledger_digest() TO regress_auditor;
SET ROLE regress_auditor;
SELECT ledger, intact FROM verify_ledgers(:'digest');
SELECT jsonb_typeof(ledger_digest()->'ledgers') AS ledgers;
-- the ledgers themselves stay closed
SELECT count(*) FROM consent_event;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION verify_ledgers(jsonb), ledger_digest() FROM regress_auditor;

DROP TABLE visits;
DROP ROLE regress_auditor;
