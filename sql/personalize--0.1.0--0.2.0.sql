-- personalize--0.1.0--0.2.0.sql: update personalize from 0.1.0 to 0.2.0
--
-- Written by hand; test/sql/upgrade.sql checks that a database updated
-- through it has exactly the objects, privileges and configuration dumps
-- of a fresh 0.2.0 install, and keeps its data.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION personalize UPDATE TO '0.2.0'" to load this file. \quit

-- An upgrade that changes a function's parameters drops and creates it;
-- this gives the new function the privileges the DBA changed on the old
-- one, so that pg_dump still dumps them (src/upgrade.c).  Only an
-- extension script may call it.
CREATE FUNCTION @extschema@._carry_function_privileges(old regprocedure, new regprocedure)
RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_carry_function_privileges'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._carry_function_privileges(regprocedure, regprocedure) FROM PUBLIC;

--
-- Lawful bases (sql/src/purposes.sql, sql/src/consent.sql)
--

-- The lawful bases of GDPR Art. 6, in one place: the purpose table's CHECK,
-- define_purpose() and its hint read them here.  src/purpose.h names
-- 'consent', the one basis that needs the subject's grant.
CREATE FUNCTION @extschema@._lawful_bases() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['consent', 'contract', 'legal_obligation', 'vital_interests',
                   'public_task', 'legitimate_interests']::text[] $$;
REVOKE ALL ON FUNCTION @extschema@._lawful_bases() FROM PUBLIC;

-- every existing purpose keeps its meaning: its basis is consent
ALTER TABLE @extschema@.purpose
	ADD COLUMN lawful_basis text NOT NULL DEFAULT 'consent'
	CONSTRAINT purpose_lawful_basis_check
	CHECK (lawful_basis = ANY (@extschema@._lawful_bases()));

-- define_purpose() gains lawful_basis: the new function replaces the old
-- one, with the privileges the DBA gave the old one
ALTER FUNCTION @extschema@.define_purpose(text, text, text, text[], text)
	RENAME TO _define_purpose_0_1_0;

CREATE FUNCTION @extschema@.define_purpose(
	name text,
	description text,
	value_exchange text,
	categories text[] DEFAULT '{}',
	parent text DEFAULT NULL,
	lawful_basis text DEFAULT 'consent')
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
	parent_id integer;
	unknown text;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
		RAISE EXCEPTION 'invalid purpose name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use lower-case names such as "newsletter" or "marketing.email".';
	END IF;
	IF description IS NULL OR btrim(description) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'purpose "%" needs a description', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Say in plain words what the data is used for.';
	END IF;
	IF value_exchange IS NULL OR btrim(value_exchange) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'purpose "%" needs a value exchange', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'Provide clear benefits in exchange for data.',
			      HINT = 'Say what the customer gets in return, for example "offers matched to the interests you tell us".';
	END IF;
	IF lawful_basis IS NULL THEN
		RAISE EXCEPTION 'lawful basis must not be null' USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Omit it for a purpose that needs consent.';
	END IF;
	IF NOT lawful_basis OPERATOR(pg_catalog.=) ANY (@extschema@._lawful_bases()) THEN
		RAISE EXCEPTION 'unknown lawful basis "%"', lawful_basis
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = format('The lawful bases are %s.',
			                    array_to_string(@extschema@._lawful_bases(), ', '));
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.purpose p WHERE p.name OPERATOR(pg_catalog.=) define_purpose.name) THEN
		RAISE EXCEPTION 'purpose "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF parent IS NOT NULL THEN
		parent_id := @extschema@._purpose_id(parent);
	END IF;
	IF array_position(categories, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'data category must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c INTO unknown FROM unnest(coalesce(categories, '{}')) c
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) c)
	 LIMIT 1;
	IF FOUND THEN
		PERFORM @extschema@._unknown_category(unknown);
	END IF;

	INSERT INTO @extschema@.purpose (name, description, value_exchange, parent_id, lawful_basis)
	VALUES (name, description, value_exchange, parent_id, lawful_basis)
	RETURNING purpose_id INTO new_id;
	INSERT INTO @extschema@.purpose_category (purpose_id, category)
	SELECT DISTINCT new_id, c FROM unnest(categories) c;
END
$$;
COMMENT ON FUNCTION @extschema@.define_purpose(text, text, text, text[], text, text) IS
	'define a purpose, the value the customer gets for it, the data categories it needs and its lawful basis';

REVOKE ALL ON FUNCTION @extschema@.define_purpose(text, text, text, text[], text, text) FROM PUBLIC;
SELECT @extschema@._carry_function_privileges(
	'@extschema@._define_purpose_0_1_0(text, text, text, text[], text)',
	'@extschema@.define_purpose(text, text, text, text[], text, text)');
DROP FUNCTION @extschema@._define_purpose_0_1_0(text, text, text, text[], text);

-- a grant on a purpose that needs no consent says so
CREATE OR REPLACE FUNCTION @extschema@.grant_consent(
	subject text,
	purpose text,
	source text DEFAULT NULL,
	expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	eid bigint;
	blocked text;
	basis text;
BEGIN
	IF expires_at IS NOT NULL AND expires_at OPERATOR(pg_catalog.<=) now() THEN
		RAISE EXCEPTION 'consent cannot expire in the past'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('The expiry is %s.', expires_at),
			      HINT = 'Pass a future time, or NULL for consent until withdrawn.';
	END IF;
	eid := @extschema@._record_consent(subject, purpose, 'grant', 'g', source, expires_at);
	SELECT p.lawful_basis INTO basis FROM @extschema@.purpose p
	 WHERE p.name OPERATOR(pg_catalog.=) purpose;
	IF basis OPERATOR(pg_catalog.<>) 'consent' THEN
		RAISE NOTICE 'purpose "%" does not need consent: its lawful basis is %', purpose, basis
			USING DETAIL = 'The grant is recorded; it lifts an earlier objection of the subject to this purpose, if any.';
	END IF;

	-- least permissive: a withdrawn ancestor overrides this grant
	WITH RECURSIVE up AS (
		SELECT p.parent_id FROM @extschema@.purpose p WHERE p.name OPERATOR(pg_catalog.=) purpose
		UNION ALL
		SELECT p.parent_id FROM @extschema@.purpose p JOIN up ON p.purpose_id OPERATOR(pg_catalog.=) up.parent_id
	)
	SELECT p.name INTO blocked
	  FROM up JOIN @extschema@.consent c ON c.purpose_id OPERATOR(pg_catalog.=) up.parent_id
	  JOIN @extschema@.purpose p ON p.purpose_id OPERATOR(pg_catalog.=) c.purpose_id
	 WHERE c.subject OPERATOR(pg_catalog.=) grant_consent.subject
	   AND c.state OPERATOR(pg_catalog.=) 'w'
	 LIMIT 1;
	IF FOUND THEN
		RAISE NOTICE 'consent to "%" has no effect while consent to "%" is withdrawn', purpose, blocked
			USING HINT = format('Withdrawing a broader purpose covers the narrower ones; grant "%s" again to allow "%s".', blocked, purpose);
	END IF;
	RETURN eid;
END
$$;
COMMENT ON FUNCTION @extschema@.grant_consent(text, text, text, timestamptz) IS
	'record that the subject consents to the purpose (until expires_at, if given); returns the event id';

COMMENT ON FUNCTION @extschema@.withdraw_consent(text, text, text) IS
	'record that the subject withdraws (or refuses) consent to the purpose and its sub-purposes, or objects to a purpose on another lawful basis; returns the event id';

-- 0.2.0: the purpose's lawful basis holds for the subject now (src/consent.c)
CREATE FUNCTION @extschema@.may_process(subject text, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_may_process_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.may_process(subject bigint, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_may_process_int8'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.may_process(subject uuid, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_may_process_uuid'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.may_process(text, text) IS
	'true if the purpose''s lawful basis holds for the subject now: has_consent for a consent purpose; for any other basis, no objection (withdrawal) to the purpose or an ancestor';
COMMENT ON FUNCTION @extschema@.may_process(bigint, text) IS
	'may_process for a bigint subject key, without converting it to text per row';
COMMENT ON FUNCTION @extschema@.may_process(uuid, text) IS
	'may_process for a uuid subject key, without converting it to text per row';

CREATE OR REPLACE VIEW @extschema@.consents AS
	SELECT c.subject, p.name AS purpose,
	       CASE WHEN c.state = 'w' THEN 'withdrawn'
	            WHEN c.state = 'e' OR c.expires_at <= now() THEN 'expired'
	            ELSE 'granted' END AS status,
	       c.source, c.updated_at, c.expires_at, p.lawful_basis
	  FROM @extschema@.consent c
	  JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consents IS
	'current consent per subject and purpose (status granted, withdrawn or expired), with the purpose''s lawful basis';

--
-- Least privilege: protected tables, access grants and requests, the
-- access ledger (sql/src/access.sql)
--

-- Registered tables under row level security: a role sees a subject's row
-- only while it holds an active grant on the table for a purpose the
-- subject's data may be used for.  What RLS looked like before protect(),
-- to restore it on unprotect().
CREATE TABLE @extschema@.protected_table (
	relid            regclass CONSTRAINT protected_table_pkey PRIMARY KEY
	                 REFERENCES @extschema@.subject_table (relid) ON DELETE CASCADE,
	forced           boolean NOT NULL,
	rls_before       boolean NOT NULL,
	force_before     boolean NOT NULL,
	protected_at     timestamptz NOT NULL DEFAULT now(),
	protected_by     name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE @extschema@.protected_table IS
	'registered tables protected by protect(): rows only for roles with an active access grant';

-- Roles the DBA names to grant access and decide requests (besides the
-- table's owner): for one table, or for every protected table (relid NULL).
CREATE TABLE @extschema@.access_approver (
	approver   regrole NOT NULL,
	relid      regclass REFERENCES @extschema@.protected_table (relid) ON DELETE CASCADE,
	named_at   timestamptz NOT NULL DEFAULT now(),
	named_by   name NOT NULL DEFAULT session_user,
	CONSTRAINT access_approver_key UNIQUE NULLS NOT DISTINCT (approver, relid)
);
COMMENT ON TABLE @extschema@.access_approver IS
	'roles that may grant access and decide access requests, per protected table or (NULL) for all';

-- Requests for access, by the role that needs it.
CREATE TABLE @extschema@.access_request (
	request_id  bigint GENERATED BY DEFAULT AS IDENTITY CONSTRAINT access_request_pkey PRIMARY KEY,
	requester   regrole NOT NULL,
	relid       regclass NOT NULL REFERENCES @extschema@.protected_table (relid) ON DELETE CASCADE,
	purpose_id  integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	valid_for   interval NOT NULL,
	reason      text NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT now(),
	state       text NOT NULL DEFAULT 'pending'
	            CONSTRAINT access_request_state_check CHECK (state IN ('pending', 'approved', 'denied')),
	decided_by  name,
	decided_at  timestamptz,
	decision_reason text,
	grant_id    bigint
);
COMMENT ON TABLE @extschema@.access_request IS
	'requests for time-limited access; an approved request becomes a grant';

-- Grants: has_access() reads them by (relid, valid_until).
CREATE TABLE @extschema@.access_grant (
	grant_id    bigint GENERATED BY DEFAULT AS IDENTITY CONSTRAINT access_grant_pkey PRIMARY KEY,
	relid       regclass NOT NULL REFERENCES @extschema@.protected_table (relid) ON DELETE CASCADE,
	grantee     regrole NOT NULL,
	purpose_id  integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	valid_from  timestamptz NOT NULL,
	valid_until timestamptz NOT NULL,
	ended_at    timestamptz,        -- revoked early (or its table unprotected)
	reason      text NOT NULL,
	granted_by  name NOT NULL,
	request_id  bigint REFERENCES @extschema@.access_request (request_id),
	uses        bigint NOT NULL DEFAULT 0,   -- statements that read rows through it
	last_used_at timestamptz,
	CONSTRAINT access_grant_window_check CHECK (valid_until > valid_from)
);
-- has_access() reads a table's grants that have not yet ended by this
-- index (src/names.h): expired grants cost nothing, however many there are.
CREATE INDEX access_grant_window_idx ON @extschema@.access_grant (relid, valid_until);
COMMENT ON TABLE @extschema@.access_grant IS
	'time-limited access grants to protected tables; has_access() reads them';
-- Every transaction that writes grants, purposes or consent says so before
-- it commits, so that has_access(), has_consent() and may_process(), which
-- keep what they read of these tables between statements, never reuse rows
-- read under an older snapshot (src/access.c, KeptReadState()).
CREATE FUNCTION @extschema@._kept_read_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_kept_read_changed'
	LANGUAGE C;
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.access_grant
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.purpose
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();
CREATE TRIGGER kept_read_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.consent
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._kept_read_changed();

-- The access ledger: every request, decision, grant, revocation, expiry,
-- protect, unprotect and change of approvers.  Names as text, so that the ledger outlives the
-- roles and tables it names.  Append-only, as the consent history.
CREATE TABLE @extschema@.access_event (
	event_id    bigint GENERATED BY DEFAULT AS IDENTITY CONSTRAINT access_event_pkey PRIMARY KEY,
	action      text NOT NULL
	            CONSTRAINT access_event_action_check
	            CHECK (action IN ('protect', 'unprotect', 'add_approver', 'remove_approver',
	                              'request', 'approve', 'deny', 'grant', 'revoke', 'expire')),
	actor       name NOT NULL,
	grantee     name,
	table_name  text NOT NULL,
	purpose     text,
	reason      text,
	valid_from  timestamptz,
	valid_until timestamptz,
	grant_id    bigint,
	request_id  bigint,
	occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_event_grant_idx ON @extschema@.access_event (grant_id);
COMMENT ON TABLE @extschema@.access_event IS
	'every request, decision, grant, revocation and expiry of access, append-only';
CREATE TRIGGER access_event_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.access_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_guard();
CREATE TRIGGER access_event_no_truncate
	BEFORE TRUNCATE ON @extschema@.access_event
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._ledger_guard();

-- The policy function: one call on the subject column, no sub-select (a
-- distributed table accepts it).
CREATE FUNCTION @extschema@.has_access(tbl regclass, subject text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_access_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.has_access(tbl regclass, subject bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_access_int8'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.has_access(tbl regclass, subject uuid) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_access_uuid'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.has_access(regclass, text) IS
	'true if the current role holds an active access grant on the table for a purpose the subject''s data may be used for';
COMMENT ON FUNCTION @extschema@.has_access(regclass, bigint) IS
	'has_access for a bigint subject key';
COMMENT ON FUNCTION @extschema@.has_access(regclass, uuid) IS
	'has_access for a uuid subject key';

CREATE FUNCTION @extschema@.protect(tbl regclass, force boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_protect'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.protect(regclass, boolean) IS
	'put a registered table under row level security: rows only for roles with an active access grant (the caller must own the table)';
CREATE FUNCTION @extschema@.unprotect(tbl regclass) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_unprotect'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.unprotect(regclass) IS
	'remove protect()''s policies, restore the table''s row level security as it was, and end its grants (the caller must own the table)';

CREATE FUNCTION @extschema@.add_access_approver(approver regrole, tbl regclass DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_add_access_approver'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.add_access_approver(regrole, regclass) IS
	'name a role that may grant access and decide requests, for one protected table or (NULL) for all';
CREATE FUNCTION @extschema@.remove_access_approver(approver regrole, tbl regclass DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_remove_access_approver'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.remove_access_approver(regrole, regclass) IS
	'remove an access approver';

CREATE FUNCTION @extschema@.grant_access(role regrole, tbl regclass, purpose text,
                                         valid_for interval, reason text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_grant_access'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.grant_access(regrole, regclass, text, interval, text) IS
	'grant a role access to a protected table for a purpose, for a time (at most personalize.max_grant_duration), with a reason; returns the grant id';
CREATE FUNCTION @extschema@.revoke_access(grant_id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_revoke_access'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.revoke_access(bigint) IS
	'end an access grant now';
CREATE FUNCTION @extschema@.request_access(tbl regclass, purpose text,
                                           valid_for interval, reason text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_request_access'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.request_access(regclass, text, interval, text) IS
	'ask for access to a protected table for a purpose, for a time, with a reason; returns the request id';
CREATE FUNCTION @extschema@.approve_access(request_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_approve_access'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.approve_access(bigint) IS
	'approve a pending access request (not one''s own): it becomes a grant, valid from now; returns the grant id';
CREATE FUNCTION @extschema@.deny_access(request_id bigint, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_deny_access'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.deny_access(bigint, text) IS
	'deny a pending access request (not one''s own), with a reason';

-- For the views (PUBLIC: they call it as their reader): may the current
-- role see this grant or request (its grantee or requester, the table's
-- owner, an approver)?
CREATE FUNCTION @extschema@._access_visible(tbl regclass, role regrole) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_access_visible'
	LANGUAGE C STABLE STRICT;

CREATE VIEW @extschema@.access_grants AS
	SELECT g.grant_id, g.grantee, g.relid AS table_name, p.name AS purpose,
	       g.valid_from, g.valid_until, g.reason, g.granted_by, g.request_id,
	       g.uses, g.last_used_at
	  FROM @extschema@.access_grant g
	  JOIN @extschema@.purpose p USING (purpose_id)
	 WHERE g.ended_at IS NULL AND g.valid_until > now()
	   AND @extschema@._access_visible(g.relid, g.grantee);
COMMENT ON VIEW @extschema@.access_grants IS
	'active access grants the current role may see (its own, its tables'', the ones it approves)';

CREATE VIEW @extschema@.access_requests AS
	SELECT r.request_id, r.requester, r.relid AS table_name, p.name AS purpose,
	       r.valid_for, r.reason, r.requested_at
	  FROM @extschema@.access_request r
	  JOIN @extschema@.purpose p USING (purpose_id)
	 WHERE r.state = 'pending'
	   AND @extschema@._access_visible(r.relid, r.requester);
COMMENT ON VIEW @extschema@.access_requests IS
	'pending access requests the current role may see (its own, its tables'', the ones it decides)';

CREATE VIEW @extschema@.access_history AS
	SELECT e.event_id, e.action, e.actor, e.grantee, e.table_name, e.purpose, e.reason,
	       e.valid_from, e.valid_until, e.grant_id, e.request_id, e.occurred_at
	  FROM @extschema@.access_event e;
COMMENT ON VIEW @extschema@.access_history IS
	'every request, decision, grant, revocation, expiry, protect and unprotect, oldest first by event_id; append-only';

-- Maintenance duty expire_grants (src/maintenance.c): record the expiry of
-- grants past their end, and the use counted in shared memory.
CREATE FUNCTION @extschema@._expire_grants() RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_expire_grants'
	LANGUAGE C;

-- Is the use of grants counted (the library preloaded)?  Uses counted and
-- not yet written by _expire_grants().
CREATE FUNCTION @extschema@._grant_use_tracked() RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_grant_use_tracked'
	LANGUAGE C STABLE;
CREATE FUNCTION @extschema@._pending_grant_uses(grant_id bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_pending_grant_uses'
	LANGUAGE C STABLE STRICT;

GRANT SELECT ON @extschema@.access_grants, @extschema@.access_requests TO PUBLIC;
-- protect(), unprotect() and the approver functions check ownership (or
-- the DBA's role) themselves, as classify() does; the grant and request
-- functions check who may call them: all are PUBLIC.
REVOKE ALL ON FUNCTION
	@extschema@._kept_read_changed(),
	@extschema@._expire_grants(),
	@extschema@._grant_use_tracked(),
	@extschema@._pending_grant_uses(bigint)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.protected_table', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_approver', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_request_request_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_grant', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_grant_grant_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_event', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.access_event_event_id_seq', '');

--
-- review() gains the checks of least privilege (sql/src/review.sql)
--

-- Checks of least privilege (sql/src/access.sql), 0.2.0.
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

CREATE OR REPLACE FUNCTION @extschema@.review()
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

CREATE OR REPLACE VIEW @extschema@.review_check AS
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
REVOKE ALL ON FUNCTION
	@extschema@._review_unprotected_sensitive(),
	@extschema@._review_grant_unused(),
	@extschema@._review_grant_renewed()
FROM PUBLIC;
