--
-- The upgrade chain: install the oldest shipped version, use it with
-- today's library, update to the newest, check that the data and the DBA's
-- privileges survive, and that the result is the same extension a fresh
-- install makes: objects, definitions, privileges (also pg_init_privs,
-- which pg_dump reads), configuration dumps.
--
SELECT version AS oldest
  FROM pg_available_extension_versions
 WHERE name = 'personalize'
 ORDER BY string_to_array(version, '.')::int[]
 LIMIT 1 \gset

CREATE ROLE regress_upgrade_dpo;
CREATE EXTENSION personalize VERSION :'oldest';
SELECT extversion FROM pg_extension WHERE extname = 'personalize';

-- the oldest version's SQL runs with today's library (a package upgrade
-- installs the library before anyone runs ALTER EXTENSION UPDATE)
SET search_path = public, personalize;
SELECT define_purpose('newsletter', 'a weekly mail with offers', 'offers for what you told us you like',
                      ARRAY['user.contact.email', 'user.unique_id']);
SELECT grant_consent('42', 'newsletter', 'signup form') > 0 AS granted,
       withdraw_consent('7', 'newsletter', 'mail footer') > 0 AS withdrawn;
CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text, seen_at timestamptz);
INSERT INTO customers VALUES (42, 'ann@example.com', now()), (7, 'bob@example.com', now()),
	(99, 'gone@example.com', now() - interval '1 year');
SELECT register_table('customers', 'customer_id');
SELECT classify('customers', 'email', 'user.contact.email');
SELECT classify('customers', 'customer_id', 'user.unique_id');
SELECT create_consent_view('newsletter_customers', 'customers', 'newsletter');
SELECT set_retention('customers', 'seen_at', '90 days');
SELECT * FROM newsletter_customers;
SELECT has_consent('42', 'newsletter') AS c42, has_consent(7::bigint, 'newsletter') AS c7;
SELECT jsonb_path_query(export_subject('42'), '$.consents[*] ? (@.purpose == "newsletter")') ? 'lawful_basis'
       AS export_has_lawful_basis;
SELECT purge('customers');
-- a DBA's privilege on a function the update replaces
GRANT EXECUTE ON FUNCTION define_purpose(text, text, text, text[], text) TO regress_upgrade_dpo;
RESET search_path;

SET client_min_messages = warning;
ALTER EXTENSION personalize UPDATE;
RESET client_min_messages;

SELECT e.extversion = a.default_version AS at_default_version
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'personalize';

-- every shipped version can be updated to the default one
SELECT v.version
  FROM pg_available_extension_versions v
  JOIN pg_available_extensions a ON a.name = v.name
 WHERE v.name = 'personalize' AND v.version <> a.default_version
   AND NOT EXISTS (SELECT 1 FROM pg_extension_update_paths('personalize') p
                    WHERE p.source = v.version AND p.target = a.default_version
                      AND p.path IS NOT NULL);

-- the data is kept: purposes (on the consent basis), consents, history,
-- the registration, labels, the rule, the view, and it all still works
SET search_path = public, personalize;
SELECT name, lawful_basis FROM purpose ORDER BY name;
SELECT subject, purpose, status, source, lawful_basis FROM consents ORDER BY subject;
SELECT subject, purpose, action, source FROM consent_history ORDER BY event_id;
SELECT relid, subject_column FROM subject_table;
SELECT objsubid, label FROM pg_seclabel
 WHERE provider = 'personalize' AND objoid = 'customers'::regclass ORDER BY objsubid;
SELECT relid, time_column, keep FROM retention_rule;
SELECT * FROM newsletter_customers;
SELECT v.view, _consent_view_problem(v.view, v.source, p.name, s.subject_column) AS view_problem
  FROM consent_view v JOIN subject_table s ON s.relid = v.source JOIN purpose p USING (purpose_id);
SELECT has_consent('42', 'newsletter') AS c42, has_consent(7::bigint, 'newsletter') AS c7,
       may_process('42', 'newsletter') AS m42, may_process(7::bigint, 'newsletter') AS m7;
SELECT jsonb_path_query(export_subject('42'), '$.consents[*] ? (@.purpose == "newsletter")') ? 'lawful_basis'
       AS export_has_lawful_basis;

-- the DBA's grant is on the new define_purpose(), as a grant of the DBA's
-- own (not among the extension's initial privileges, so pg_dump dumps it)
SELECT has_function_privilege('regress_upgrade_dpo',
         'define_purpose(text, text, text, text[], text, text)', 'EXECUTE') AS dpo_may_define,
       to_regprocedure('define_purpose(text, text, text, text[], text)') AS old_signature;
SELECT a.grantee::regrole, a.privilege_type
  FROM pg_proc p, aclexplode(p.proacl) a
 WHERE p.oid = 'define_purpose(text, text, text, text[], text, text)'::regprocedure
   AND (a.grantee, a.privilege_type) NOT IN
       (SELECT i.grantee, i.privilege_type
          FROM pg_init_privs ip, aclexplode(ip.initprivs) i
         WHERE ip.objoid = p.oid AND ip.classoid = 'pg_proc'::regclass);
-- the ledgers are hash chains: the consent history 0.1.0 wrote, in the
-- order it was written, and its purge log's runs in the new purge ledger
SELECT chain_seq, event_id, subject, action FROM consent_event ORDER BY chain_seq;
SELECT table_name, rows_deleted, outcome FROM purge_history;
SELECT ledger, entries, intact, problem FROM verify_ledgers();
SELECT to_regprocedure('_ledger_rechain(text, name)') AS chaining_helper_is_gone;
-- what 0.2.0 adds works on the updated database
SELECT protect('customers');
SELECT count(*) AS policies FROM pg_policies WHERE tablename = 'customers';
SELECT has_access('customers', 42::bigint) AS superuser_holds_no_grant;
-- the helper that carried it over refuses to run outside an extension script
SELECT _carry_function_privileges('define_purpose(text, text, text, text[], text, text)',
                                  'define_purpose(text, text, text, text[], text, text)');
RESET search_path;

-- what the extension is made of: members with their definitions,
-- privileges, initial privileges and comments; and the configuration dumps
CREATE FUNCTION pg_temp.init_privs(cls regclass, obj oid) RETURNS text
LANGUAGE sql AS $$
  SELECT string_agg(objsubid || '=' || initprivs::text, ',' ORDER BY objsubid)
    FROM pg_init_privs WHERE classoid = cls AND objoid = obj
$$;
CREATE FUNCTION pg_temp.extension_members() RETURNS TABLE (member text, body text)
LANGUAGE sql AS $$
  SELECT pg_describe_object(d.classid, d.objid, 0),
         md5(coalesce(obj_description(d.objid, d.classid::regclass::name), '') || '|' ||
             coalesce(pg_temp.init_privs(d.classid, d.objid), '') || '|' ||
         CASE d.classid
           WHEN 'pg_proc'::regclass THEN
             (SELECT pg_get_functiondef(p.oid) || coalesce(p.proacl::text, '')
                FROM pg_proc p WHERE p.oid = d.objid)
           WHEN 'pg_class'::regclass THEN
             (SELECT coalesce(pg_get_viewdef(c.oid), '') || c.relkind::text ||
                     coalesce(c.reloptions::text, '') || coalesce(c.relacl::text, '') ||
                     c.relrowsecurity::text || c.relforcerowsecurity::text ||
                     coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                                  || ':' || a.attnotnull || ':' || coalesce(a.attcollation::regcollation::text, '')
                                                  || ':' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
                                                  || ':' || coalesce(a.attacl::text, '')
                                                  || ':' || coalesce(col_description(c.oid, a.attnum), ''),
                                                  ',' ORDER BY a.attnum)
                                 FROM pg_attribute a
                                 LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || '|' ||
                     coalesce((SELECT string_agg(co.conname || ':' || pg_get_constraintdef(co.oid), ',' ORDER BY co.conname)
                                 FROM pg_constraint co WHERE co.conrelid = c.oid), '') || '|' ||
                     coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY 1)
                                 FROM pg_index i WHERE i.indrelid = c.oid), '') || '|' ||
                     coalesce((SELECT string_agg(pg_get_triggerdef(t.oid), ',' ORDER BY t.tgname)
                                 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '') || '|' ||
                     coalesce((SELECT row(s.seqtypid, s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
                                          s.seqcache, s.seqcycle)::text
                                 FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
                FROM pg_class c WHERE c.oid = d.objid)
           WHEN 'pg_type'::regclass THEN
             (SELECT format_type(t.oid, NULL) || coalesce(t.typacl::text, '') FROM pg_type t WHERE t.oid = d.objid)
           WHEN 'pg_event_trigger'::regclass THEN
             (SELECT e.evtevent || ':' || e.evtfoid::regprocedure::text || ':' || coalesce(e.evttags::text, '')
                FROM pg_event_trigger e WHERE e.oid = d.objid)
           ELSE ''
         END)
    FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize')
     AND d.deptype = 'e'
  UNION ALL
  SELECT 'configuration dump of ' || t.cfg::regclass::text, coalesce(t.cond, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS t(cfg, cond)
   WHERE e.extname = 'personalize'
$$;

-- the DBA's own grant is the one difference there should be: take it back
REVOKE EXECUTE ON FUNCTION personalize.define_purpose(text, text, text, text[], text, text)
  FROM regress_upgrade_dpo;
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.extension_members();

SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION personalize CASCADE;
RESET personalize.drop_ledgers;
RESET client_min_messages;
CREATE EXTENSION personalize;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_members();

SELECT count(*) > 100 AS has_members, count(*) FILTER (WHERE member LIKE 'configuration dump of %') > 10 AS has_dumps
  FROM fresh;

-- differences between an upgraded and a fresh install: none expected
(SELECT 'only after upgrade' AS where_, * FROM upgraded EXCEPT SELECT 'only after upgrade', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT SELECT 'only in fresh install', * FROM upgraded)
ORDER BY 1, 2;

DROP TABLE upgraded, fresh, customers;
DROP ROLE regress_upgrade_dpo;
