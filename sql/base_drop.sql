--
-- Removal fails closed.  DROP EXTENSION (and DROP SCHEMA personalize, DROP
-- OWNED BY the extension's owner) is refused while the ledgers hold
-- entries, unless the session confirms; DROP EXTENSION ... CASCADE then
-- leaves a protected table with row level security on and no policy at
-- all: nobody who could not read it before reads it after.
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
-- the schema outlives DROP EXTENSION; the DBA below installs afresh
DROP SCHEMA IF EXISTS personalize;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE regress_d_dba SUPERUSER;
CREATE ROLE regress_d_reader;
SET SESSION AUTHORIZATION regress_d_dba;
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SET personalize.review_ddl = off;
CREATE TABLE cases (case_id int PRIMARY KEY, customer_id bigint NOT NULL, note text);
INSERT INTO cases SELECT g, g, 'case ' || g FROM generate_series(1, 5) g;
GRANT SELECT ON cases TO regress_d_reader;
SELECT register_table('cases', 'customer_id');
SELECT protect('cases');
SET ROLE regress_d_reader;
SELECT count(*) AS reader_sees FROM cases;
RESET ROLE;

-- protect() wrote the access ledger's first entry, a consent the consent
-- history's
SELECT grant_consent('1', 'personalization', 'signup form') > 0 AS granted;
DROP EXTENSION personalize;
DROP EXTENSION personalize CASCADE;
DROP EXTENSION IF EXISTS personalize, plpgsql CASCADE;
DROP SCHEMA personalize CASCADE;
DROP OWNED BY regress_d_dba CASCADE;
SELECT extname FROM pg_extension WHERE extname = 'personalize';
-- nor may its schema be renamed: the extension is not relocatable; other
-- schemas rename as ever
ALTER SCHEMA personalize RENAME TO personalize_old;
CREATE SCHEMA regress_d_s;
ALTER SCHEMA regress_d_s RENAME TO regress_d_t;
DROP SCHEMA regress_d_t;
SELECT nspname FROM pg_namespace WHERE nspname IN ('personalize', 'personalize_old');
-- other drops are not its business
CREATE SCHEMA regress_d_other;
DROP SCHEMA regress_d_other;

-- confirmed: gone, and the protected table fails closed
SET personalize.drop_ledgers = on;
SET client_min_messages = warning;
DROP EXTENSION personalize CASCADE;
RESET client_min_messages;
RESET personalize.drop_ledgers;
SELECT c.relrowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
  FROM pg_class c WHERE c.oid = 'cases'::regclass;
SET ROLE regress_d_reader;
SELECT count(*) AS reader_sees FROM cases;
RESET ROLE;
SELECT count(*) AS owner_sees FROM cases;

-- an extension whose ledgers are empty drops without a question
CREATE EXTENSION personalize;
DROP EXTENSION personalize;
RESET SESSION AUTHORIZATION;
DROP TABLE cases;
DROP SCHEMA personalize;
DROP ROLE regress_d_reader, regress_d_dba;
