--
-- Subject keys: one rule for every entry point that takes a subject, one
-- canonical form per registered column type, and no half erasure.
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
\set SHOW_CONTEXT never
SET personalize.review_ddl = off;

SELECT define_purpose('marketing', 'offers by email', 'offers you asked for');
SELECT define_tag('running');
INSERT INTO offers (offer_id, title) VALUES ('shoe', 'Shoes');
INSERT INTO offer_tags VALUES ('shoe', 'running', 1);

-- Every entry point refuses the same keys with the same error: empty, only
-- white space, white space at either end (a tab, a newline, a no-break
-- space), a control character inside.
CREATE TEMP TABLE bad_keys (label text, key text);
INSERT INTO bad_keys VALUES
	('empty', ''), ('space', ' '), ('tab', E'\t'), ('newline', E'\n'),
	('no-break space', U&'\00A0'), ('leading tab', E'\t42'), ('trailing newline', E'42\n'),
	('leading no-break space', U&'\00A042'), ('trailing ideographic space', U&'42\3000'),
	('control inside', E'4\0012');
CREATE TEMP TABLE entry_points (name text, call text);
INSERT INTO entry_points VALUES
	('grant_consent', 'SELECT personalize.grant_consent($1, ''marketing'')'),
	('withdraw_consent', 'SELECT personalize.withdraw_consent($1, ''marketing'')'),
	('state_intent', 'SELECT personalize.state_intent($1, ''running'')'),
	('clear_intent', 'SELECT personalize.clear_intent($1)'),
	('record_signal', 'SELECT personalize.record_signal($1, ''running'', ''view'')'),
	('record_purchase', 'SELECT personalize.record_purchase($1, ''shoe'')'),
	('export_subject', 'SELECT personalize.export_subject($1)'),
	('forget', 'SELECT personalize.forget($1)'),
	('subject_pseudonym', 'SELECT personalize.subject_pseudonym($1)'),
	('match', 'SELECT personalize.match($1)');
CREATE FUNCTION pg_temp.outcome(call text, key text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE call USING key;
	RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
	RETURN format('%s: %s', SQLSTATE, SQLERRM);
END $$;
SELECT b.label, e.name, pg_temp.outcome(e.call, b.key) AS outcome
  FROM bad_keys b CROSS JOIN entry_points e
 ORDER BY b.label, e.name;
-- and one call of each, for the detail and the hint
SELECT grant_consent(E'\t', 'marketing');
SELECT forget(U&'\00A0' || '42');
SELECT export_subject(E'4\0012');
-- NULL is a null-value error everywhere
SELECT e.name, pg_temp.outcome(e.call, NULL) AS outcome FROM entry_points e ORDER BY e.name;
-- nothing was recorded for any of them
SELECT count(*) AS recorded FROM consent_event;
-- has_consent(), a test on every row of a view, answers false for them:
-- nothing can ever be recorded for such a key
SELECT b.label, has_consent(b.key, 'marketing') AS has_consent FROM bad_keys b ORDER BY b.label;
-- inner white space is part of a key
SELECT grant_consent('Ada Lovelace', 'marketing') > 0 AS inner_space_is_fine;

-- Canonical forms: a key a registered column reads differently is refused
-- wherever it could be recorded or acted on, so that the ledger and the
-- tables never name one customer two ways.
CREATE TABLE customers (customer_id bigint PRIMARY KEY, name text);
INSERT INTO customers VALUES (7, 'Seven'), (8, 'Eight');
SELECT register_table('customers', 'customer_id');
SELECT grant_consent('7', 'marketing') > 0 AS canonical_accepted;
SELECT grant_consent('007', 'marketing');
-- (match() reads only: a key nothing can be recorded under finds nothing)
SELECT e.name, pg_temp.outcome(e.call, k.key) AS outcome
  FROM entry_points e, (VALUES ('007'), ('+7'), ('-0')) AS k(key)
 WHERE e.name <> 'match'
 ORDER BY k.key, e.name;
-- keys that are no bigint at all are no row of the table: fine
SELECT grant_consent('ada@example.com', 'marketing') > 0 AS not_a_bigint_accepted;
-- forget('7') erases the table's row and the ledger's key alike
SELECT forget('7') -> 'tables' AS erased;
SELECT has_consent('7', 'marketing') AS consent_left, has_consent(7::bigint, 'marketing') AS consent_left_as_bigint;
SELECT subject FROM consent_history WHERE subject NOT LIKE 'pseudonym:%' ORDER BY 1;

-- uuid keys: the lower-case hyphenated form only
CREATE TABLE devices (device_id uuid PRIMARY KEY, model text);
INSERT INTO devices VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'phone');
SELECT register_table('devices', 'device_id');
SELECT grant_consent('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'marketing');
SELECT forget('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}');
SELECT forget('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11') -> 'tables' ->> 'public.devices' AS erased_device;

-- a column type that would make keys already in the ledgers non-canonical
-- is refused, at registration and when a subject column's type changes
SELECT unregister_table('customers');
SELECT grant_consent('008', 'marketing') > 0 AS recorded_while_no_bigint_column;
SELECT register_table('customers', 'customer_id');
CREATE TABLE members (member_id text, name text);
INSERT INTO members VALUES ('008', 'Eight');
SELECT register_table('members', 'member_id');
ALTER TABLE members ALTER COLUMN member_id TYPE bigint USING member_id::bigint;
SELECT atttypid::regtype AS still_text FROM pg_attribute
 WHERE attrelid = 'members'::regclass AND attname = 'member_id';
-- erasing the old key first lets it through
SELECT forget('008') -> 'consents' AS consents_erased;
ALTER TABLE members ALTER COLUMN member_id TYPE bigint USING member_id::bigint;
SELECT subject_type FROM subject_table WHERE relid = 'members'::regclass;
-- a type without equality cannot name subjects, whatever ALTER TABLE says
ALTER TABLE members ALTER COLUMN member_id TYPE json USING to_json(member_id);
SELECT register_table('customers', 'customer_id');

DROP TABLE customers, devices, members;
