--
-- The upgrade chain: install the oldest shipped version, update to the
-- newest, and check the result is the same extension a fresh install makes.
--
SELECT version AS oldest
  FROM pg_available_extension_versions
 WHERE name = 'personalize'
 ORDER BY string_to_array(version, '.')::int[]
 LIMIT 1 \gset

CREATE EXTENSION personalize VERSION :'oldest';
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

-- what the extension is made of: members, with function and view bodies
CREATE FUNCTION pg_temp.extension_members() RETURNS TABLE (member text, body text)
LANGUAGE sql AS $$
  SELECT pg_describe_object(d.classid, d.objid, 0),
         CASE d.classid
           WHEN 'pg_proc'::regclass THEN md5(pg_get_functiondef(d.objid))
           WHEN 'pg_class'::regclass THEN
             (SELECT md5(coalesce(pg_get_viewdef(c.oid), '') || c.relkind::text ||
                         coalesce(c.reloptions::text, '') ||
                         coalesce((SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                                                      || ':' || a.attnotnull, ',' ORDER BY a.attnum)
                                     FROM pg_attribute a
                                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''))
                FROM pg_class c WHERE c.oid = d.objid)
         END
    FROM pg_depend d
   WHERE d.refclassid = 'pg_extension'::regclass
     AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'personalize')
     AND d.deptype = 'e'
$$;
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.extension_members();

DROP EXTENSION personalize;
CREATE EXTENSION personalize;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_members();

SELECT count(*) > 0 AS has_members FROM fresh;

-- differences between an upgraded and a fresh install: none expected
(SELECT 'only after upgrade' AS where_, * FROM upgraded EXCEPT SELECT 'only after upgrade', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh EXCEPT SELECT 'only in fresh install', * FROM upgraded)
ORDER BY 1, 2;

DROP TABLE upgraded, fresh;
