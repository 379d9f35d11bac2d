--
-- A registered table that its owner turns into a view (a _RETURN rule;
-- PostgreSQL 15 allows it on an empty table, 16 and later refuse it) is no
-- longer read or erased: the view's query would be the owner's code.
-- expected/subjects_view_rule_1.out is the output of PostgreSQL 16 and
-- later, where the rule itself is refused.
--
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
\set SHOW_CONTEXT never
SET personalize.review_ddl = off;

CREATE ROLE regress_owner;
GRANT CREATE ON SCHEMA public TO regress_owner;
SET ROLE regress_owner;
CREATE FUNCTION public.escalate() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'owner code runs as %', current_user;
	ALTER ROLE regress_owner SUPERUSER;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE EXCEPTION 'could not become superuser: running as %', current_user;
END $$;
CREATE TABLE turned (customer_id bigint);
RESET ROLE;
SELECT register_table('turned', 'customer_id');
SET ROLE regress_owner;
CREATE RULE "_RETURN" AS ON SELECT TO turned DO INSTEAD
	SELECT customer_id FROM (SELECT 1::bigint AS customer_id, public.escalate()) s;
RESET ROLE;
SELECT export_subject('3') -> 'tables' AS exported;
SELECT forget('3') -> 'tables' AS erased;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
SELECT unregister_table('turned');

SET personalize.drop_ledgers = on;
DROP EXTENSION personalize CASCADE;
RESET personalize.drop_ledgers;
DROP OWNED BY regress_owner CASCADE;
REVOKE CREATE ON SCHEMA public FROM regress_owner;
DROP ROLE regress_owner;
