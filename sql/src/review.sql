-- sql/src/review.sql: review: findings, and moments of review at DDL time
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Column names that suggest personal data, as normalized word sequences
-- (see _normalize_column_name), and the category each suggests.
CREATE TABLE @extschema@.personal_data_name (
	pattern  text PRIMARY KEY CHECK (pattern ~ '^[a-z0-9]+(_[a-z0-9]+)*$'),
	category text NOT NULL REFERENCES @extschema@.data_category (name),
	builtin  boolean NOT NULL DEFAULT false
);
-- logged whole: a publication may leave the built-in names out (0.3.0)
ALTER TABLE @extschema@.personal_data_name REPLICA IDENTITY FULL;
COMMENT ON TABLE @extschema@.personal_data_name IS
	'column names that suggest personal data, for review() and the DDL review; add your own';
INSERT INTO @extschema@.personal_data_name (pattern, category, builtin)
SELECT p, c, true FROM (VALUES
	('email', 'user.contact.email'), ('e_mail', 'user.contact.email'), ('mail', 'user.contact.email'),
	('email_address', 'user.contact.email'), ('mail_address', 'user.contact.email'),
	('phone', 'user.contact.phone_number'), ('telephone', 'user.contact.phone_number'),
	('tel', 'user.contact.phone_number'), ('mobile', 'user.contact.phone_number'),
	('cell', 'user.contact.phone_number'), ('msisdn', 'user.contact.phone_number'),
	('fax', 'user.contact.phone_number'),
	('address', 'user.contact.address'), ('street', 'user.contact.address.street'),
	('street_address', 'user.contact.address.street'), ('house_number', 'user.contact.address.street'),
	('city', 'user.contact.address.city'), ('town', 'user.contact.address.city'),
	('zip', 'user.contact.address.postal_code'), ('zipcode', 'user.contact.address.postal_code'),
	('zip_code', 'user.contact.address.postal_code'), ('postal_code', 'user.contact.address.postal_code'),
	('postcode', 'user.contact.address.postal_code'), ('post_code', 'user.contact.address.postal_code'),
	('plz', 'user.contact.address.postal_code'),
	('first_name', 'user.name'), ('firstname', 'user.name'), ('given_name', 'user.name'),
	('last_name', 'user.name'), ('lastname', 'user.name'), ('surname', 'user.name'),
	('family_name', 'user.name'), ('full_name', 'user.name'), ('fullname', 'user.name'),
	('middle_name', 'user.name'), ('maiden_name', 'user.name'),
	('dob', 'user.demographic.date_of_birth'), ('birth', 'user.demographic.date_of_birth'),
	('birthday', 'user.demographic.date_of_birth'), ('birthdate', 'user.demographic.date_of_birth'),
	('birth_date', 'user.demographic.date_of_birth'), ('date_of_birth', 'user.demographic.date_of_birth'),
	('born', 'user.demographic.date_of_birth'),
	('age', 'user.demographic.age'), ('age_group', 'user.demographic.age'),
	('gender', 'user.demographic.gender'), ('sex', 'user.demographic.gender'),
	('marital_status', 'user.demographic.marital_status'),
	('race', 'user.demographic.race_ethnicity'), ('ethnicity', 'user.demographic.race_ethnicity'),
	('ethnic', 'user.demographic.race_ethnicity'), ('ethnic_origin', 'user.demographic.race_ethnicity'),
	('nationality', 'user.demographic'), ('citizenship', 'user.demographic'),
	('religion', 'user.demographic.religious_belief'), ('religious', 'user.demographic.religious_belief'),
	('faith', 'user.demographic.religious_belief'),
	('sexual_orientation', 'user.demographic.sexual_orientation'),
	('political', 'user.demographic.political_opinion'), ('political_party', 'user.demographic.political_opinion'),
	('union_member', 'user.demographic.trade_union_membership'),
	('health', 'user.health_and_medical'), ('medical', 'user.health_and_medical'),
	('diagnosis', 'user.health_and_medical'), ('allergy', 'user.health_and_medical'),
	('allergies', 'user.health_and_medical'), ('disability', 'user.health_and_medical'),
	('medication', 'user.health_and_medical'), ('blood_type', 'user.health_and_medical'),
	('biometric', 'user.biometric'), ('fingerprint', 'user.biometric'), ('face_id', 'user.biometric'),
	('ssn', 'user.government_id'), ('social_security', 'user.government_id'),
	('national_id', 'user.government_id'), ('passport', 'user.government_id'),
	('tax_id', 'user.government_id'), ('driver_license', 'user.government_id'),
	('drivers_license', 'user.government_id'),
	('iban', 'user.financial.bank_account'), ('bank_account', 'user.financial.bank_account'),
	('account_number', 'user.financial.bank_account'), ('routing_number', 'user.financial.bank_account'),
	('credit_card', 'user.payment'), ('card_number', 'user.payment'), ('cc_number', 'user.payment'),
	('cvv', 'user.payment'),
	('salary', 'user.financial'), ('income', 'user.financial'), ('credit_score', 'user.financial'),
	('ip', 'user.device.ip_address'), ('ip_address', 'user.device.ip_address'),
	('ip_addr', 'user.device.ip_address'),
	('latitude', 'user.location.precise'), ('longitude', 'user.location.precise'),
	('lat', 'user.location.precise'), ('lng', 'user.location.precise'), ('lon', 'user.location.precise'),
	('gps', 'user.location.precise'), ('geolocation', 'user.location.precise'),
	('criminal_record', 'user.criminal_history'), ('conviction', 'user.criminal_history')
) AS v(p, c);

-- "emailAddress", "E-Mail", "customer_email " -> email_address, e_mail, customer_email
CREATE FUNCTION @extschema@._normalize_column_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT btrim(regexp_replace(lower(regexp_replace(
	           regexp_replace(name, '([a-z0-9])([A-Z])', '\1_\2', 'g'),
	           '[^A-Za-z0-9]+', '_', 'g')), '_+', '_', 'g'), '_')
$$;

-- The category a column's name or type suggests, or NULL.  A pattern
-- matches whole words of the normalized name, or the whole name written
-- without separators; the longest match wins.
CREATE FUNCTION @extschema@._suggest_category(name text, type oid) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(
		(SELECT p.category FROM @extschema@.personal_data_name p
		  WHERE strpos('_' || @extschema@._normalize_column_name(_suggest_category.name) || '_',
		               '_' || p.pattern || '_') > 0
		     -- "emailaddress": an unquoted camelCase name, folded to lower case
		     OR replace(@extschema@._normalize_column_name(_suggest_category.name), '_', '')
		        = replace(p.pattern, '_', '')
		  ORDER BY length(p.pattern) DESC, p.pattern LIMIT 1),
		CASE WHEN _suggest_category.type IN ('pg_catalog.inet'::regtype, 'pg_catalog.cidr'::regtype)
		     THEN 'user.device.ip_address' END)
$$;

-- The user tables review() and the DDL review look at.
CREATE FUNCTION @extschema@._user_tables()
RETURNS TABLE (relid oid, relname text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid, format('%I.%I', n.nspname, c.relname)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind IN ('r', 'p')
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema', '@extschema@')
	   AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
	   AND NOT EXISTS (SELECT 1 FROM pg_depend d
	                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
	                      AND d.deptype = 'e')
$$;

-- the columns of user tables with their classification
CREATE FUNCTION @extschema@._user_columns()
RETURNS TABLE (relid oid, relname text, attnum smallint, attname name, atttypid oid,
               category text, sensitivity text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.relid, t.relname, a.attnum, a.attname, a.atttypid, l.label, d.sensitivity
	  FROM @extschema@._user_tables() t
	  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_seclabel l
	    ON l.classoid = 'pg_class'::regclass AND l.objoid = t.relid
	   AND l.objsubid = a.attnum AND l.provider = 'personalize'
	  LEFT JOIN @extschema@.data_category d ON d.name = l.label
$$;

CREATE TYPE @extschema@.review_finding AS (
	severity text,
	object   text,
	finding  text,
	hint     text
);

-- Check: a column whose name or type suggests personal data is not classified.
CREATE FUNCTION @extschema@._review_unclassified() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', c.relname || '.' || quote_ident(c.attname),
	       format('column "%s" looks like personal data (%s) but is not classified',
	              c.attname, s.category),
	       format('Classify it: SELECT personalize.classify(%L, %L, %L); drop it if no purpose needs it; or, if it holds no personal data, classify it as %L.',
	              c.relname, c.attname, s.category, 'system.operations')
	  FROM @extschema@._user_columns() c,
	       LATERAL (SELECT @extschema@._suggest_category(c.attname, c.atttypid) AS category) s
	 WHERE c.category IS NULL AND s.category IS NOT NULL
$$;

-- Check: a date of birth is stored with its year.
CREATE FUNCTION @extschema@._review_birth_year() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', c.relname || '.' || quote_ident(c.attname),
	       format('date of birth "%s" is stored with its year (%s)', c.attname, format_type(c.atttypid, NULL)),
	       format('Keep the month and day only: ALTER TABLE %s ALTER COLUMN %I TYPE personalize.monthday USING %I::personalize.monthday;',
	              c.relname, c.attname, c.attname)
	  FROM @extschema@._user_columns() c
	 WHERE c.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)
	   AND coalesce(c.category, @extschema@._suggest_category(c.attname, c.atttypid))
	       = 'user.demographic.date_of_birth'
$$;

-- Check: a sensitive or special column that no purpose needs.
CREATE FUNCTION @extschema@._review_unneeded_sensitive() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', c.relname || '.' || quote_ident(c.attname),
	       format('%s column "%s" (%s) is needed by no purpose', c.sensitivity, c.attname, c.category),
	       'Data minimization: drop the column, or define the purpose that needs it (with the value the customer gets).'
	  FROM @extschema@._user_columns() c
	 WHERE c.sensitivity IN ('sensitive', 'special')
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.purpose p
	                    WHERE @extschema@._column_allowed(p.purpose_id, c.category))
$$;

-- Check: a consent view shows a sensitive or special column.
CREATE FUNCTION @extschema@._review_view_sensitive() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'notice', v.view::text || '.' || quote_ident(s.view_column),
	       format('consent view shows %s column "%s" (%s) for purpose "%s"',
	              d.sensitivity, s.view_column, l.label, p.name),
	       format('Check that purpose "%s" needs it, and grant SELECT on the view sparingly.', p.name)
	  FROM @extschema@.consent_view v
	  JOIN @extschema@.purpose p USING (purpose_id)
	  CROSS JOIN LATERAL @extschema@._view_source_columns(v.view) s
	  JOIN pg_seclabel l
	    ON l.classoid = 'pg_class'::regclass AND l.objoid = v.source
	   AND l.objsubid = s.source_attnum AND l.provider = 'personalize'
	  JOIN @extschema@.data_category d ON d.name = l.label
	 WHERE d.sensitivity IN ('sensitive', 'special')
$$;

-- Check: a label names a category that does not exist (possible after a
-- restore; see src/review/classify.c).
CREATE FUNCTION @extschema@._review_unknown_label() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'error', c.relname || '.' || quote_ident(c.attname),
	       format('column "%s" is classified with unknown data category "%s"', c.attname, c.category),
	       'Define the category with personalize.define_category(), or classify the column again.'
	  FROM @extschema@._user_columns() c
	 WHERE c.category IS NOT NULL AND c.sensitivity IS NULL
$$;

-- DDL review (src/review/classify.c): the columns a command added, the effective
-- level, and the commit-time check of the "error" level.
CREATE FUNCTION @extschema@._added_columns(command pg_ddl_command) RETURNS smallint[]
	AS 'MODULE_PATHNAME', 'personalize_added_columns'
	LANGUAGE C STRICT;
CREATE FUNCTION @extschema@._review_ddl_level() RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_review_ddl_level'
	LANGUAGE C STABLE;
CREATE FUNCTION @extschema@._require_classification(tbl regclass, attnum smallint, category text)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_require_classification'
	LANGUAGE C STRICT;

CREATE FUNCTION @extschema@._on_ddl_review() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	level text := @extschema@._review_ddl_level();
	cmd record;
	col record;
	added smallint[];
	message text;
	hint text;
BEGIN
	-- _review_ddl_level() is "off" during a superuser's restore (pg_dump's
	-- output replays tables whose labels follow); any other role's DDL is
	-- reviewed whatever check_function_bodies says (src/classify.c)
	IF level = 'off' THEN
		RETURN;
	END IF;
	FOR cmd IN
		SELECT c.command, c.objid, c.object_identity
		  FROM pg_event_trigger_ddl_commands() c
		 WHERE c.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
		   AND c.classid = 'pg_class'::regclass AND c.objsubid = 0 AND NOT c.in_extension
		   AND c.objid IN (SELECT t.relid FROM @extschema@._user_tables() t)
	LOOP
		added := @extschema@._added_columns(cmd.command);
		FOR col IN
			SELECT a.attnum, a.attname, @extschema@._suggest_category(a.attname, a.atttypid) AS category
			  FROM pg_attribute a
			 WHERE a.attrelid = cmd.objid AND a.attnum > 0 AND NOT a.attisdropped
			   AND (added IS NULL OR a.attnum = ANY (added))
			   AND NOT EXISTS (SELECT 1 FROM pg_seclabel l
			                    WHERE l.classoid = 'pg_class'::regclass AND l.objoid = cmd.objid
			                      AND l.objsubid = a.attnum AND l.provider = 'personalize')
			 ORDER BY a.attnum
		LOOP
			CONTINUE WHEN col.category IS NULL;
			message := format('column "%s" of table %s looks like personal data (%s)',
			                  col.attname, cmd.object_identity, col.category);
			hint := format('Classify it: SECURITY LABEL FOR personalize ON COLUMN %s.%I IS %L; drop it if no purpose needs it; or, if it holds no personal data, classify it as %L.',
			               cmd.object_identity, col.attname, col.category, 'system.operations');
			IF level = 'error' THEN
				-- checked at commit: classify it in the same transaction
				PERFORM @extschema@._require_classification(cmd.objid, col.attnum, col.category);
			ELSIF level = 'warning' THEN
				RAISE WARNING '%', message USING HINT = hint;
			ELSE
				RAISE NOTICE '%', message USING HINT = hint;
			END IF;
		END LOOP;
	END LOOP;
END
$$;
CREATE EVENT TRIGGER personalize_ddl_review ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
	EXECUTE FUNCTION @extschema@._on_ddl_review();

--------------------------------------------------------------------------

-- Check: a registered table has no retention rule.
CREATE FUNCTION @extschema@._review_no_retention() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', s.relid::text,
	       format('registered table %s has no retention rule', s.relid),
	       format('Keep subject data only as long as needed: SELECT personalize.set_retention(%L, <time column>, %L);',
	              s.relid::text, '365 days')
	  FROM @extschema@.subject_table s
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.retention_rule r WHERE r.relid = s.relid)
$$;

-- Check: a role granted forget() or export_subject() lacks a privilege the
-- call needs on a registered table (src/subjects/rights.c): the request of
-- every subject with rows in that table stops there.
CREATE FUNCTION @extschema@._review_rights_blocked() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', s.relid::text,
	       format('role %s may call %s() but lacks %s on registered table %s',
	              g.grantee::regrole, f.name, m.missing, s.relid),
	       format('GRANT %s ON %s TO %s; otherwise %s() stops for every subject with rows in the table.',
	              m.missing, s.relid, g.grantee::regrole, f.name)
	  FROM (VALUES ('forget', '@extschema@.forget(text)'::regprocedure, true),
	               ('export_subject', '@extschema@.export_subject(text)'::regprocedure, false)
	       ) AS f(name, fn, erases)
	  JOIN pg_proc p ON p.oid = f.fn
	 CROSS JOIN LATERAL (SELECT DISTINCT a.grantee FROM aclexplode(p.proacl) a
	                      WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
	                        AND a.grantee <> 0) g
	  JOIN pg_roles r ON r.oid = g.grantee AND NOT r.rolsuper
	 CROSS JOIN @extschema@.subject_table s
	 CROSS JOIN LATERAL (
		SELECT array_to_string(ARRAY[
		           CASE WHEN NOT (has_table_privilege(g.grantee, s.relid, 'SELECT')
		                          OR (f.erases AND has_column_privilege(g.grantee, s.relid, s.subject_column, 'SELECT')))
		                THEN 'SELECT' END,
		           CASE WHEN f.erases AND NOT has_table_privilege(g.grantee, s.relid, 'DELETE')
		                THEN 'DELETE' END], ', ') AS missing) m
	 WHERE m.missing <> ''
$$;

-- Check: a protected table's row level security is no longer as protect()
-- made it (src/privilege/grants.c): disabled, a policy gone, a check no longer
-- restrictive, or, in the all-permissive form protect() uses on Citus, a
-- policy of the table's own beside them, which lets rows through.
CREATE FUNCTION @extschema@._review_protection_changed() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'error', t.relid::text,
	       format('protected table %s: %s', t.relid, w.why),
	       format('Call personalize.unprotect(%L) and personalize.protect(%L) again, and leave the table''s policies to personalize.',
	              t.relid::text, t.relid::text)
	  FROM @extschema@.protected_table t
	  JOIN pg_class c ON c.oid = t.relid
	 CROSS JOIN LATERAL (
		SELECT coalesce(array_agg(p.polname::text) FILTER (WHERE p.polname::text LIKE 'personalize\_%'), '{}') AS ours,
		       coalesce(array_agg(p.polname::text ORDER BY p.polname) FILTER (WHERE p.polname::text NOT LIKE 'personalize\_%'), '{}') AS others,
		       coalesce(bool_and(NOT p.polpermissive)
		                FILTER (WHERE p.polname::text LIKE 'personalize\_access\_%'), false) AS restrictive
		  FROM pg_policy p
		 WHERE p.polrelid = t.relid) p
	 CROSS JOIN LATERAL (
		SELECT CASE
			WHEN NOT c.relrowsecurity THEN 'its row level security is disabled'
			WHEN NOT p.ours @> ARRAY['personalize_access_select', 'personalize_access_update', 'personalize_access_delete']
			THEN 'a policy protect() made is gone'
			WHEN 'personalize_access_insert' = ANY (p.ours) AND cardinality(p.others) > 0
			THEN format('its own policies %s sit beside the permissive ones protect() makes on Citus, and let rows through',
			            array_to_string(p.others, ', '))
			WHEN 'personalize_access_insert' = ANY (p.ours) THEN NULL
			WHEN NOT 'personalize_rows' = ANY (p.ours) THEN 'a policy protect() made is gone'
			WHEN NOT p.restrictive THEN 'a check protect() made is no longer restrictive'
		END AS why) w
	 WHERE w.why IS NOT NULL
$$;

-- Check: a consent view is no longer what create_consent_view() made.
CREATE FUNCTION @extschema@._review_view_redefined() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'error', v.view::text,
	       format('consent view %s no longer checks consent as made: %s', v.view, x.problem),
	       format('Drop it with personalize.drop_consent_view(%L) and create it again with personalize.create_consent_view().',
	              v.view::text)
	  FROM @extschema@.consent_view v
	  JOIN @extschema@.purpose p USING (purpose_id)
	  JOIN @extschema@.subject_table s ON s.relid = v.source
	  CROSS JOIN LATERAL (SELECT @extschema@._consent_view_problem(v.view, v.source, p.name,
	                                                               s.subject_column) AS problem) x
	 WHERE x.problem IS NOT NULL
	   AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = v.view::oid)
$$;

-- Check: a consent view shows a classified column its purpose does not
-- allow (its owner added it, or a category changed behind the label check).
CREATE FUNCTION @extschema@._review_view_column_not_allowed() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'error', v.view::text || '.' || quote_ident(s.view_column),
	       format('consent view shows column "%s" (%s), which purpose "%s" does not allow',
	              s.view_column, l.label, p.name),
	       format('Drop the view with personalize.drop_consent_view(%L) and create it again: create_consent_view() shows only the columns the purpose allows.',
	              v.view::text)
	  FROM @extschema@.consent_view v
	  JOIN @extschema@.purpose p USING (purpose_id)
	  CROSS JOIN LATERAL @extschema@._view_source_columns(v.view) s
	  JOIN pg_seclabel l
	    ON l.classoid = 'pg_class'::regclass AND l.objoid = v.source
	   AND l.objsubid = s.source_attnum AND l.provider = 'personalize'
	 WHERE NOT @extschema@._column_allowed(v.purpose_id, l.label)
$$;

-- Checks of least privilege (sql/src/privilege.sql), 0.2.0.
CREATE FUNCTION @extschema@._review_unprotected_sensitive() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'warning', s.relid::text,
	       format('registered table %s holds %s data and is not protected',
	              s.relid, string_agg(DISTINCT d.sensitivity, ' and ' ORDER BY d.sensitivity)),
	       format('Give staff access only when they need it: SELECT personalize.protect(%L);', s.relid::text)
	  FROM @extschema@.subject_table s
	  JOIN pg_seclabel l
	    ON l.classoid = 'pg_class'::regclass AND l.objoid = s.relid AND l.objsubid > 0
	   AND l.provider = 'personalize'
	  JOIN @extschema@.data_category d ON d.name = l.label
	 WHERE d.sensitivity IN ('sensitive', 'special')
	   AND NOT EXISTS (SELECT 1 FROM @extschema@.protected_table t WHERE t.relid = s.relid)
	 GROUP BY s.relid
$$;

CREATE FUNCTION @extschema@._review_grant_unused() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'notice', g.relid::text,
	       format('access grant %s to %s on %s for purpose "%s" ended unused',
	              g.grant_id, g.grantee, g.relid, p.name),
	       'Grant access when it is needed, for as long as it is needed; a grant nobody uses is standing access.'
	  FROM @extschema@.access_grant g
	  JOIN @extschema@.purpose p USING (purpose_id)
	 WHERE @extschema@._grant_use_tracked()
	   AND g.uses OPERATOR(pg_catalog.+) @extschema@._pending_grant_uses(g.grant_id) = 0
	   AND coalesce(g.ended_at, g.valid_until) <= now()
	   AND coalesce(g.ended_at, g.valid_until) > now() - interval '30 days'
$$;

-- Always renewed: three or more grants of the same table and purpose to
-- the same role in the last 30 days, each starting at most 15 minutes
-- after the one before ended.
CREATE FUNCTION @extschema@._review_grant_renewed() RETURNS SETOF @extschema@.review_finding
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	WITH g AS (
		SELECT g.*, coalesce(g.ended_at, g.valid_until) AS ends,
		       g.valid_from > lag(coalesce(g.ended_at, g.valid_until))
		                      OVER w + interval '15 minutes' AS gap
		  FROM @extschema@.access_grant g
		 WHERE g.valid_from > now() - interval '30 days'
		WINDOW w AS (PARTITION BY g.relid, g.grantee, g.purpose_id ORDER BY g.valid_from)),
	runs AS (
		SELECT g.*, count(*) FILTER (WHERE gap IS NOT FALSE)
		              OVER (PARTITION BY g.relid, g.grantee, g.purpose_id ORDER BY g.valid_from) AS run
		  FROM g)
	SELECT 'warning', r.relid::text,
	       format('%s has had access to %s for purpose "%s" without a break for %s, in %s grants',
	              r.grantee, r.relid, p.name,
	              date_trunc('minute', max(r.ends) - min(r.valid_from)), count(*)),
	       'Access that is always renewed is standing access: review whether the role needs a privilege of its own, or the work a change of process.'
	  FROM runs r
	  JOIN @extschema@.purpose p USING (purpose_id)
	 GROUP BY r.relid, r.grantee, p.name, r.run
	HAVING count(*) >= 3
$$;

-- The checks review() runs, in one fixed list: a reader sees them all in
-- review()'s body, and review(), a SECURITY DEFINER function, never runs a
-- function a table row names.  review_check lists the same checks with
-- what each looks for; the regression test "classify" keeps the two in
-- step.
CREATE FUNCTION @extschema@.review()
RETURNS TABLE (severity text, object text, finding text, hint text)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT f.severity, f.object, f.finding, f.hint
	  FROM (SELECT * FROM @extschema@._review_birth_year()
	        UNION ALL SELECT * FROM @extschema@._review_grant_renewed()
	        UNION ALL SELECT * FROM @extschema@._review_grant_unused()
	        UNION ALL SELECT * FROM @extschema@._review_no_retention()
	        UNION ALL SELECT * FROM @extschema@._review_protection_changed()
	        UNION ALL SELECT * FROM @extschema@._review_rights_blocked()
	        UNION ALL SELECT * FROM @extschema@._review_unclassified()
	        UNION ALL SELECT * FROM @extschema@._review_unknown_label()
	        UNION ALL SELECT * FROM @extschema@._review_unneeded_sensitive()
	        UNION ALL SELECT * FROM @extschema@._review_unprotected_sensitive()
	        UNION ALL SELECT * FROM @extschema@._review_view_column_not_allowed()
	        UNION ALL SELECT * FROM @extschema@._review_view_redefined()
	        UNION ALL SELECT * FROM @extschema@._review_view_sensitive()) f
	 ORDER BY array_position(ARRAY['error', 'warning', 'notice'], f.severity),
	          f.object, f.finding
$$;
COMMENT ON FUNCTION @extschema@.review() IS
	'findings about personal data in this database, most severe first, each with a hint';

CREATE VIEW @extschema@.review_check AS
	SELECT c.check_name, c.check_fn::regprocedure AS check_fn, c.description
	  FROM (VALUES
		('birth_year', '@extschema@._review_birth_year()',
		 'a date of birth is stored with its year'),
		('grant_renewed', '@extschema@._review_grant_renewed()',
		 'a role has had access to a table for a purpose without a break, in three or more grants'),
		('grant_unused', '@extschema@._review_grant_unused()',
		 'an access grant ended without being used'),
		('no_retention', '@extschema@._review_no_retention()',
		 'a registered table has no retention rule'),
		('protection_changed', '@extschema@._review_protection_changed()',
		 'a protected table''s row level security is no longer as protect() made it'),
		('rights_blocked', '@extschema@._review_rights_blocked()',
		 'a role granted forget() or export_subject() lacks a privilege they need on a registered table'),
		('unclassified', '@extschema@._review_unclassified()',
		 'a column whose name or type suggests personal data is not classified'),
		('unknown_label', '@extschema@._review_unknown_label()',
		 'a column is classified with a category that does not exist'),
		('unneeded_sensitive', '@extschema@._review_unneeded_sensitive()',
		 'a sensitive or special column that no purpose needs'),
		('unprotected_sensitive', '@extschema@._review_unprotected_sensitive()',
		 'a registered table with sensitive or special columns is not protected'),
		('view_column_not_allowed', '@extschema@._review_view_column_not_allowed()',
		 'a consent view shows a classified column its purpose does not allow'),
		('view_redefined', '@extschema@._review_view_redefined()',
		 'a consent view no longer checks consent as create_consent_view() made it'),
		('view_sensitive', '@extschema@._review_view_sensitive()',
		 'a consent view shows a sensitive or special column')
	  ) AS c(check_name, check_fn, description);
COMMENT ON VIEW @extschema@.review_check IS
	'the checks review() runs, and what each looks for';

GRANT SELECT ON @extschema@.personal_data_name, @extschema@.review_check TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@.review(),
	@extschema@._suggest_category(text, oid),
	@extschema@._user_tables(),
	@extschema@._user_columns(),
	@extschema@._review_unclassified(),
	@extschema@._review_birth_year(),
	@extschema@._review_unneeded_sensitive(),
	@extschema@._review_view_sensitive(),
	@extschema@._review_unknown_label(),
	@extschema@._review_no_retention(),
	@extschema@._review_protection_changed(),
	@extschema@._review_rights_blocked(),
	@extschema@._review_unprotected_sensitive(),
	@extschema@._review_grant_unused(),
	@extschema@._review_grant_renewed(),
	@extschema@._review_view_redefined(),
	@extschema@._review_view_column_not_allowed(),
	@extschema@._added_columns(pg_ddl_command),
	@extschema@._review_ddl_level(),
	@extschema@._require_classification(regclass, smallint, text),
	@extschema@._on_ddl_review(),
	@extschema@._normalize_column_name(text)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.personal_data_name', 'WHERE NOT builtin');
