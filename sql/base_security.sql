--
-- Attacks by a table owner on the superuser (or DPO) who calls the
-- extension's functions, and on the installation itself.  Each attack is
-- tried; each must fail.
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
-- the schema outlives DROP EXTENSION
DROP SCHEMA IF EXISTS personalize CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

--
-- 1. A schema prepared by someone else before CREATE EXTENSION
--
CREATE ROLE regress_squatter;
CREATE SCHEMA personalize AUTHORIZATION regress_squatter;
CREATE EXTENSION personalize;
ALTER SCHEMA personalize OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA personalize TO regress_squatter;
CREATE EXTENSION personalize;
REVOKE CREATE ON SCHEMA personalize FROM regress_squatter;
CREATE FUNCTION personalize.has_consent(subject integer, purpose text) RETURNS boolean
	LANGUAGE sql AS 'SELECT true';
ALTER FUNCTION personalize.has_consent(integer, text) OWNER TO regress_squatter;
CREATE EXTENSION personalize;
DROP FUNCTION personalize.has_consent(integer, text);
-- the installing role's own, empty schema is fine
CREATE EXTENSION personalize;
SELECT n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS schema_is_ours
  FROM pg_namespace n WHERE n.nspname = 'personalize';
DROP ROLE regress_squatter;

SET search_path = public, personalize;
SET personalize.review_ddl = off;

--
-- 2. A table owner's code run by forget() and export_subject()
--
-- regress_owner owns a registered table and may create objects in public;
-- regress_dpo may read and erase it.  Each trap tries to make its owner a
-- superuser, or to read what only the caller may read.
CREATE ROLE regress_owner;
CREATE ROLE regress_dpo;
GRANT CREATE ON SCHEMA public TO regress_owner;
GRANT EXECUTE ON FUNCTION forget(text), export_subject(text) TO regress_dpo;
GRANT EXECUTE ON FUNCTION set_retention(regclass, name, interval, text) TO regress_owner;
CREATE TABLE secrets (customer_id bigint, email text);
INSERT INTO secrets VALUES (1, 'one@example.com'), (2, 'two@example.com');
GRANT SELECT ON secrets TO regress_dpo;

SET ROLE regress_owner;
CREATE TYPE mood AS ENUM ('happy', 'grumpy');
CREATE TABLE accounts (customer_id bigint, mood mood, note text);
INSERT INTO accounts VALUES (1, 'happy', 'first'), (2, 'grumpy', 'second'), (3, 'happy', 'third');
CREATE TABLE stolen (email text);
GRANT SELECT, DELETE ON accounts TO regress_dpo;
-- who runs me, and can I become superuser?
CREATE FUNCTION public.escalate() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'owner code runs as %', current_user;
	ALTER ROLE regress_owner SUPERUSER;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'could not become superuser: running as %', current_user;
END $$;
CREATE FUNCTION public.steal() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'owner code runs as %', current_user;
	INSERT INTO public.stolen SELECT email FROM public.secrets;
END $$;
RESET ROLE;
SELECT register_table('accounts', 'customer_id');

-- a BEFORE DELETE trigger
SET ROLE regress_owner;
CREATE FUNCTION public.trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.escalate(); RETURN OLD; END $$;
CREATE TRIGGER trap BEFORE DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION public.trap();
RESET ROLE;
SELECT forget('1');
SET ROLE regress_dpo;
SELECT forget('1');
RESET ROLE;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
SELECT count(*) AS nothing_erased FROM accounts WHERE customer_id = 1;

-- the same trigger copying what only the caller may read
SET ROLE regress_owner;
CREATE OR REPLACE FUNCTION public.trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.steal(); RETURN OLD; END $$;
RESET ROLE;
SELECT forget('1');
SELECT count(*) AS nothing_stolen FROM stolen;

-- an ON DELETE DO ALSO rule
SET ROLE regress_owner;
DROP TRIGGER trap ON accounts;
CREATE RULE trap AS ON DELETE TO accounts DO ALSO SELECT public.escalate();
RESET ROLE;
SELECT forget('1');
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
SET ROLE regress_owner;
DROP RULE trap ON accounts;
RESET ROLE;

-- a cast that to_jsonb() uses for the enum column, in export_subject()
SET ROLE regress_owner;
CREATE FUNCTION public.mood_json(m mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN PERFORM public.escalate(); RETURN to_json(m::text); END $$;
CREATE CAST (mood AS json) WITH FUNCTION public.mood_json(mood);
RESET ROLE;
SELECT export_subject('1');
SET ROLE regress_dpo;
SELECT export_subject('1');
RESET ROLE;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
SET ROLE regress_owner;
DROP CAST (mood AS json);
RESET ROLE;

-- a domain with a CHECK on the subject column
SET ROLE regress_owner;
CREATE FUNCTION public.check_escalates(v bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.escalate(); RETURN true; END $$;
CREATE DOMAIN customer_key AS bigint CHECK (public.check_escalates(VALUE));
CREATE TABLE keyed (customer_id customer_key, note text);
GRANT SELECT, DELETE ON keyed TO regress_dpo;
RESET ROLE;
SELECT register_table('keyed', 'customer_id');
SET ROLE regress_dpo;
SELECT forget('2') -> 'tables' AS erased;
SELECT export_subject('3') -> 'tables' -> 'public.keyed' AS exported;
RESET ROLE;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';

-- FORCE ROW LEVEL SECURITY would hide rows from the owner, as whom the
-- table is erased: refused, even for a caller with BYPASSRLS
SET ROLE regress_owner;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY some_rows ON accounts USING (customer_id < 3);
RESET ROLE;
ALTER ROLE regress_dpo BYPASSRLS;
SET ROLE regress_dpo;
SELECT forget('3');
RESET ROLE;
ALTER ROLE regress_dpo NOBYPASSRLS;
SET ROLE regress_owner;
ALTER TABLE accounts DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY;
DROP POLICY some_rows ON accounts;
RESET ROLE;

-- with the traps gone, the same calls work, and erase as the owner
SELECT forget('3') -> 'tables' AS erased;
SELECT customer_id FROM accounts ORDER BY 1;

--
-- 3. The same class through other entry points: a cast or a trigger of
--    the owner run by detect_proxies(), match_exposure(), a consent view
--    and the purge, and settings that outlive them
--
SET ROLE regress_owner;
CREATE FUNCTION public.mood_text(m mood) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.escalate(); RETURN m::text; END $$;
CREATE CAST (mood AS text) WITH FUNCTION public.mood_text(mood);
RESET ROLE;
SECURITY LABEL FOR personalize ON COLUMN accounts.mood IS 'user.demographic';
SELECT column_name FROM detect_proxies('accounts', 'mood', 0);
SELECT count(*) FROM match_exposure('accounts', 'mood');
-- a consent view over an enum subject column
SET ROLE regress_owner;
CREATE TABLE moods (who mood, note text);
INSERT INTO moods VALUES ('happy', 'x');
RESET ROLE;
SELECT register_table('moods', 'who');
SECURITY LABEL FOR personalize ON COLUMN moods.note IS 'user.preference';
SELECT define_purpose('research', 'research', 'better products', '{user.preference}');
SELECT grant_consent('happy', 'research');
SELECT create_consent_view('public.happy_moods', 'moods', 'research');
SELECT regexp_replace(pg_get_viewdef('happy_moods'), '\mt\.', '', 'g') AS definition;
SELECT * FROM happy_moods;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';

-- a purge whose trigger changes the session's search_path
SET ROLE regress_owner;
DROP CAST (mood AS text);
CREATE TABLE events (customer_id bigint, at timestamptz);
INSERT INTO events VALUES (1, now() - interval '40 days');
CREATE FUNCTION public.hijack() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('search_path', 'public', false);
	PERFORM set_config('work_mem', '1234kB', false);
	RETURN OLD;
END $$;
CREATE TRIGGER hijack BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION public.hijack();
SELECT personalize.set_retention('events', 'at', '30 days');
RESET ROLE;
SET search_path = public, personalize;
SELECT purge('events');
SHOW search_path;
SHOW work_mem;
INSERT INTO events VALUES (1, now() - interval '40 days');
SELECT * FROM run_maintenance();
SHOW search_path;
SHOW work_mem;
INSERT INTO events VALUES (1, now() - interval '40 days');
CALL run_purge('events');
SHOW search_path;
SHOW work_mem;
SELECT count(*) AS purged FROM events;

SET personalize.drop_ledgers = on;
DROP EXTENSION personalize CASCADE;
RESET personalize.drop_ledgers;
DROP OWNED BY regress_owner CASCADE;
DROP TABLE secrets;
DROP ROLE regress_owner, regress_dpo;
