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
	-- recorded last: the consent ledger's append lock is then held only
	-- from here to the end of the transaction (src/ledger.c)
	eid := @extschema@._record_consent(subject, purpose, 'grant', 'g', source, expires_at);
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
	occurred_at timestamptz NOT NULL DEFAULT now(),
	-- the hash chain (sql/src/ledgers.sql, src/ledger.c)
	chain_seq   bigint NOT NULL,
	prev_hash   bytea NOT NULL,
	entry_hash  bytea NOT NULL
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

-- hash-chained ledgers (sql/src/ledgers.sql)
--
-- Consent history gets its chain columns, and the entries it already holds
-- are chained in the order they were written (event_id), before the
-- columns become NOT NULL; purge runs already logged enter the new purge
-- ledger in the order they ran.
ALTER TABLE @extschema@.consent_event
	ADD COLUMN chain_seq bigint,
	ADD COLUMN prev_hash bytea,
	ADD COLUMN entry_hash bytea;
CREATE FUNCTION @extschema@._ledger_rechain(ledger text, order_by name) RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_ledger_rechain'
	LANGUAGE C STRICT;
SELECT @extschema@._ledger_rechain('consent', 'event_id');
DROP FUNCTION @extschema@._ledger_rechain(text, name);
ALTER TABLE @extschema@.consent_event
	ALTER COLUMN chain_seq SET NOT NULL,
	ALTER COLUMN prev_hash SET NOT NULL,
	ALTER COLUMN entry_hash SET NOT NULL;

CREATE FUNCTION @extschema@._ledger_chain() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_ledger_chain'
	LANGUAGE C;

-- The ledgers, in the order verify_ledgers() reports them.
CREATE FUNCTION @extschema@._ledger_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['consent', 'access', 'custody', 'purge']::pg_catalog.text[] $$;

CREATE UNIQUE INDEX consent_event_chain_key ON @extschema@.consent_event (chain_seq);
CREATE TRIGGER consent_event_chain
	BEFORE INSERT ON @extschema@.consent_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('consent');

CREATE UNIQUE INDEX access_event_chain_key ON @extschema@.access_event (chain_seq);
CREATE TRIGGER access_event_chain
	BEFORE INSERT ON @extschema@.access_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('access');

-- The purge ledger: one entry per purge run that deleted rows or failed,
-- written when the run ends (purge_run, which the purge log view shows, is
-- the working copy and is trimmed after personalize.purge_log_keep; this
-- ledger is kept).  Counts and names, never the data nor an error message
-- (which can quote a row).
CREATE TABLE @extschema@.purge_event (
	run_id             bigint NOT NULL,
	table_name         text NOT NULL,
	started_at         timestamptz NOT NULL,
	finished_at        timestamptz,
	rows_deleted       bigint NOT NULL,
	batches            integer NOT NULL,
	partitions_dropped integer NOT NULL,
	outcome            text NOT NULL,
	started_by         text NOT NULL,
	recorded_at        timestamptz NOT NULL DEFAULT now(),
	chain_seq          bigint NOT NULL,
	prev_hash          bytea NOT NULL,
	entry_hash         bytea NOT NULL
);
CREATE UNIQUE INDEX purge_event_chain_key ON @extschema@.purge_event (chain_seq);
COMMENT ON TABLE @extschema@.purge_event IS
	'every purge run that deleted rows or failed, once it ended; append-only and hash-chained, never trimmed';
CREATE TRIGGER purge_event_chain
	BEFORE INSERT ON @extschema@.purge_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('purge');
CREATE TRIGGER purge_event_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.purge_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_guard();
CREATE TRIGGER purge_event_no_truncate
	BEFORE TRUNCATE ON @extschema@.purge_event
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._ledger_guard();

-- A run enters the ledger when it ends.  Not while a superuser restores a
-- dump (check_function_bodies = off): the ledger's own rows come with it.
CREATE FUNCTION @extschema@._purge_run_ended() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT current_setting('check_function_bodies')::boolean
	   AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
		RETURN NULL;
	END IF;
	INSERT INTO @extschema@.purge_event
	       (run_id, table_name, started_at, finished_at, rows_deleted, batches,
	        partitions_dropped, outcome, started_by)
	VALUES (NEW.run_id, NEW.relid::text, NEW.started_at, NEW.finished_at, NEW.rows_deleted,
	        NEW.batches, NEW.partitions_dropped, NEW.outcome, NEW.started_by);
	RETURN NULL;
END
$$;
CREATE TRIGGER purge_run_ended
	AFTER INSERT OR UPDATE OF outcome ON @extschema@.purge_run
	FOR EACH ROW WHEN (NEW.outcome <> 'running')
	EXECUTE FUNCTION @extschema@._purge_run_ended();

CREATE VIEW @extschema@.purge_history AS
	SELECT e.run_id, e.table_name, e.started_at, e.finished_at, e.rows_deleted,
	       e.batches, e.partitions_dropped, e.outcome, e.started_by
	  FROM @extschema@.purge_event e;
COMMENT ON VIEW @extschema@.purge_history IS
	'every purge run that deleted rows or failed, kept for good (the purge ledger)';

-- Verification.
CREATE FUNCTION @extschema@._verify_ledger(
	ledger text, digest_entries bigint, digest_head bytea,
	OUT entries bigint, OUT head text, OUT intact boolean,
	OUT broken_at bigint, OUT problem text)
	AS 'MODULE_PATHNAME', 'personalize_verify_ledger'
	LANGUAGE C STABLE;

CREATE FUNCTION @extschema@._ledger_head(ledger text, OUT entries bigint, OUT head text)
	AS 'MODULE_PATHNAME', 'personalize_ledger_head'
	LANGUAGE C STABLE STRICT;

-- A digest is what ledger_digest() returns; anything else is refused
-- before a chain is read.
CREATE FUNCTION @extschema@._check_ledger_digest(digest jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	problem text;
	k text;
	v jsonb;
BEGIN
	IF digest IS NULL THEN
		RETURN;
	END IF;
	IF jsonb_typeof(digest) <> 'object'
	   OR digest->>'format' IS DISTINCT FROM 'personalize ledger digest' THEN
		problem := 'It is not an object with "format": "personalize ledger digest".';
	ELSIF digest->'version' IS DISTINCT FROM '1'::jsonb THEN
		problem := format('Its version %s is not one this version of personalize writes.',
		                  coalesce(digest->>'version', 'null'));
	ELSIF jsonb_typeof(digest->'ledgers') IS DISTINCT FROM 'object' THEN
		problem := 'It has no "ledgers" object.';
	ELSE
		FOR k, v IN SELECT e.key, e.value FROM jsonb_each(digest->'ledgers') e LOOP
			IF NOT k = ANY (@extschema@._ledger_names()) THEN
				problem := format('It names a ledger "%s", which does not exist.', k);
			ELSIF jsonb_typeof(v) IS DISTINCT FROM 'object'
			      OR jsonb_typeof(v->'entries') IS DISTINCT FROM 'number'
			      OR v->>'entries' !~ '^[0-9]{1,18}$' THEN
				problem := format('The entries of ledger "%s" are not a whole number.', k);
			ELSIF (v->>'entries')::bigint = 0 AND v->'head' IS DISTINCT FROM 'null'::jsonb THEN
				problem := format('Ledger "%s" has no entries, so its head must be null.', k);
			ELSIF (v->>'entries')::bigint > 0
			      AND (jsonb_typeof(v->'head') IS DISTINCT FROM 'string'
			           OR v->>'head' !~ '^[0-9a-f]{64}$') THEN
				problem := format('The head of ledger "%s" is not 64 hexadecimal digits.', k);
			END IF;
			EXIT WHEN problem IS NOT NULL;
		END LOOP;
	END IF;
	IF problem IS NOT NULL THEN
		RAISE EXCEPTION 'invalid ledger digest'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = problem,
			      HINT = 'Pass a value that personalize.ledger_digest() returned, unchanged.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.ledger_digest() RETURNS jsonb
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT jsonb_build_object(
		'format', 'personalize ledger digest',
		'version', 1,
		'database', current_database(),
		'taken_at', now(),
		'ledgers', (SELECT jsonb_object_agg(n.name, jsonb_build_object('entries', h.entries, 'head', h.head))
		              FROM unnest(@extschema@._ledger_names()) AS n(name),
		                   LATERAL @extschema@._ledger_head(n.name) h))
$$;
COMMENT ON FUNCTION @extschema@.ledger_digest() IS
	'each ledger''s length and head hash, to keep outside the database and pass to verify_ledgers() later';

CREATE FUNCTION @extschema@.verify_ledgers(digest jsonb DEFAULT NULL)
RETURNS TABLE (ledger text, entries bigint, head text, intact boolean,
               broken_at bigint, problem text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@._check_ledger_digest(digest);
	RETURN QUERY
		SELECT n.name, v.entries, v.head, v.intact, v.broken_at, v.problem
		  FROM unnest(@extschema@._ledger_names()) WITH ORDINALITY AS n(name, ord),
		       LATERAL @extschema@._verify_ledger(
		           n.name,
		           (digest->'ledgers'->n.name->>'entries')::bigint,
		           decode(digest->'ledgers'->n.name->>'head', 'hex')) v
		 ORDER BY n.ord;
END
$$;
COMMENT ON FUNCTION @extschema@.verify_ledgers(jsonb) IS
	'walk every ledger''s hash chain and name the first broken link; with a digest from ledger_digest(), also find a chain cut short or rewritten';

REVOKE ALL ON FUNCTION
	@extschema@._ledger_chain(),
	@extschema@._ledger_names(),
	@extschema@._check_ledger_digest(jsonb),
	@extschema@._purge_run_ended(),
	@extschema@._verify_ledger(text, bigint, bytea),
	@extschema@._ledger_head(text),
	@extschema@.ledger_digest(),
	@extschema@.verify_ledgers(jsonb)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purge_event', '');

INSERT INTO @extschema@.purge_event
       (run_id, table_name, started_at, finished_at, rows_deleted, batches,
        partitions_dropped, outcome, started_by, recorded_at)
SELECT r.run_id, r.relid::pg_catalog.text, r.started_at, r.finished_at, r.rows_deleted, r.batches,
       r.partitions_dropped, r.outcome, r.started_by, r.finished_at
  FROM @extschema@.purge_run r
 WHERE r.outcome OPERATOR(pg_catalog.<>) 'running'
 ORDER BY r.run_id;

-- partners, custody and the record of processing (sql/src/partners.sql)
CREATE TABLE @extschema@.partner (
	partner_id    integer GENERATED BY DEFAULT AS IDENTITY CONSTRAINT partner_pkey PRIMARY KEY,
	name          text NOT NULL CONSTRAINT partner_name_key UNIQUE,
	agreement     text NOT NULL,
	valid_from    timestamptz NOT NULL DEFAULT now(),
	valid_until   timestamptz NOT NULL,
	ended_at      timestamptz,
	registered_by name NOT NULL DEFAULT session_user,
	CONSTRAINT partner_window_check CHECK (valid_until > valid_from)
);
COMMENT ON TABLE @extschema@.partner IS
	'partners that may receive data under a governance agreement; written by register_partner and end_partner';

CREATE TABLE @extschema@.partner_purpose (
	partner_id integer NOT NULL REFERENCES @extschema@.partner (partner_id) ON DELETE CASCADE,
	purpose_id integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	CONSTRAINT partner_purpose_pkey PRIMARY KEY (partner_id, purpose_id)
);
CREATE TABLE @extschema@.partner_category (
	partner_id integer NOT NULL REFERENCES @extschema@.partner (partner_id) ON DELETE CASCADE,
	category   text NOT NULL REFERENCES @extschema@.data_category (name),
	CONSTRAINT partner_category_pkey PRIMARY KEY (partner_id, category)
);

-- The custody log: one entry per share() call.  The subjects who left are
-- keyed pseudonyms (the forget() key), so the log names nobody, and yet
-- forget() and recipients() find the partners that received a subject's
-- data.  Append-only and hash-chained (sql/src/ledgers.sql).
CREATE TABLE @extschema@.custody_event (
	custody_id   bigint GENERATED BY DEFAULT AS IDENTITY CONSTRAINT custody_event_pkey PRIMARY KEY,
	partner      text NOT NULL,
	agreement    text NOT NULL,
	table_name   text NOT NULL,
	columns      text[] NOT NULL,
	categories   text[] NOT NULL,
	purposes     text[] NOT NULL,
	row_count    bigint NOT NULL,
	digest       text NOT NULL,
	subjects     text[] NOT NULL,
	requested_by name NOT NULL,
	occurred_at  timestamptz NOT NULL DEFAULT now(),
	chain_seq    bigint NOT NULL,
	prev_hash    bytea NOT NULL,
	entry_hash   bytea NOT NULL
);
CREATE UNIQUE INDEX custody_event_chain_key ON @extschema@.custody_event (chain_seq);
CREATE INDEX custody_event_subjects_idx ON @extschema@.custody_event USING gin (subjects);
COMMENT ON TABLE @extschema@.custody_event IS
	'every share() call: partner, agreement, table, columns, categories, rows, digest, pseudonymized subjects; append-only and hash-chained';
CREATE TRIGGER custody_event_chain
	BEFORE INSERT ON @extschema@.custody_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_chain('custody');
CREATE TRIGGER custody_event_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.custody_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_guard();
CREATE TRIGGER custody_event_no_truncate
	BEFORE TRUNCATE ON @extschema@.custody_event
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._ledger_guard();

-- May the partner receive a column classified with category?  Only a
-- classified column (never an unclassified one, whatever
-- personalize.unclassified_columns says), whose category the agreement
-- covers: the agreement names it, or an ancestor at least as sensitive; and
-- special-category data only if one of the partner's purposes names it too.
CREATE FUNCTION @extschema@._partner_column_allowed(partner_id integer, category text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT _partner_column_allowed.category IS NOT NULL
	   AND EXISTS (
		SELECT 1
		  FROM @extschema@.partner_category pc
		  JOIN @extschema@.data_category named ON named.name = pc.category
		  JOIN @extschema@.data_category col ON col.name = _partner_column_allowed.category
		 WHERE pc.partner_id = _partner_column_allowed.partner_id
		   AND (col.name = named.name OR starts_with(col.name, named.name || '.'))
		   AND @extschema@._sensitivity_rank(named.sensitivity)
		       >= @extschema@._sensitivity_rank(col.sensitivity))
	   AND (NOT EXISTS (SELECT 1 FROM @extschema@.data_category d
	                     WHERE d.name = _partner_column_allowed.category AND d.sensitivity = 'special')
	        OR EXISTS (SELECT 1 FROM @extschema@.partner_purpose pp
	                    WHERE pp.partner_id = _partner_column_allowed.partner_id
	                      AND @extschema@._column_allowed(pp.purpose_id, _partner_column_allowed.category)))
$$;

CREATE FUNCTION @extschema@.register_partner(
	name text,
	agreement text,
	purposes text[],
	categories text[],
	valid_until timestamptz)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
	old record;
	unknown text;
	special text;
	purpose_ids integer[];
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'partner must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.=) '' OR name OPERATOR(pg_catalog.<>) btrim(name)
	   OR name OPERATOR(pg_catalog.~) '[[:cntrl:]]' THEN
		RAISE EXCEPTION 'invalid partner name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'A partner name is not empty, has no control characters and no white space at either end.';
	END IF;
	IF agreement IS NULL OR btrim(agreement) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'partner "%" needs an agreement', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the governance agreement the partner signed, for example its contract reference.';
	END IF;
	IF coalesce(cardinality(purposes), 0) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'partner "%" needs at least one purpose', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the purposes the agreement lets the partner use the data for.';
	END IF;
	IF coalesce(cardinality(categories), 0) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'partner "%" needs at least one data category', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Name the data categories the agreement lets the partner receive.';
	END IF;
	IF array_position(purposes, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF array_position(categories, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'data category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF valid_until IS NULL THEN
		RAISE EXCEPTION 'the end of the agreement must not be null'
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = 'Every agreement ends; pass the date in the contract.';
	END IF;
	IF valid_until OPERATOR(pg_catalog.<=) now() THEN
		RAISE EXCEPTION 'the agreement with partner "%" would already have ended', name
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('It ends at %s.', valid_until);
	END IF;
	-- unknown purposes and categories: _purpose_id() and _unknown_category() say which
	SELECT array_agg(@extschema@._purpose_id(p) ORDER BY p) INTO purpose_ids
	  FROM (SELECT DISTINCT p FROM unnest(purposes) p) d;
	SELECT c INTO unknown FROM unnest(categories) c
	 WHERE NOT EXISTS (SELECT 1 FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) c)
	 LIMIT 1;
	IF FOUND THEN
		PERFORM @extschema@._unknown_category(unknown);
	END IF;
	SELECT c INTO special FROM unnest(categories) c
	  JOIN @extschema@.data_category d ON d.name OPERATOR(pg_catalog.=) c
	 WHERE d.sensitivity OPERATOR(pg_catalog.=) 'special'
	   AND NOT EXISTS (SELECT 1 FROM unnest(purpose_ids) pid
	                    WHERE @extschema@._column_allowed(pid, c))
	 ORDER BY c LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'partner "%" may not receive special category data "%"', name, special
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'None of its purposes names that category.',
			      HINT = 'Leave the category out of the agreement, or give the partner a purpose that names it.';
	END IF;

	SELECT p.partner_id, p.ended_at, p.valid_until INTO old
	  FROM @extschema@.partner p WHERE p.name OPERATOR(pg_catalog.=) register_partner.name
	   FOR UPDATE;
	IF FOUND THEN
		IF old.ended_at IS NULL AND old.valid_until OPERATOR(pg_catalog.>) now() THEN
			RAISE EXCEPTION 'partner "%" already has an agreement in force', name
				USING ERRCODE = 'duplicate_object',
				      HINT = 'End it with personalize.end_partner() before registering a new one.';
		END IF;
		-- a new agreement with a partner whose last one ended
		DELETE FROM @extschema@.partner p WHERE p.partner_id OPERATOR(pg_catalog.=) old.partner_id;
	END IF;
	INSERT INTO @extschema@.partner (name, agreement, valid_until)
	VALUES (name, agreement, valid_until)
	RETURNING partner_id INTO new_id;
	INSERT INTO @extschema@.partner_purpose (partner_id, purpose_id)
	SELECT new_id, pid FROM unnest(purpose_ids) pid;
	INSERT INTO @extschema@.partner_category (partner_id, category)
	SELECT DISTINCT new_id, c FROM unnest(categories) c;
END
$$;
COMMENT ON FUNCTION @extschema@.register_partner(text, text, text[], text[], timestamptz) IS
	'register a partner under a governance agreement: the purposes it may use data for, the categories it may receive, when the agreement ends';

CREATE FUNCTION @extschema@.end_partner(name text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'partner must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT x.partner_id, x.ended_at INTO p
	  FROM @extschema@.partner x WHERE x.name OPERATOR(pg_catalog.=) end_partner.name
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'partner "%" does not exist', name
			USING ERRCODE = 'undefined_object',
			      HINT = 'The partners view lists the registered partners.';
	END IF;
	IF p.ended_at IS NOT NULL THEN
		RAISE EXCEPTION 'the agreement with partner "%" has already ended', name
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = format('It was ended at %s.', p.ended_at);
	END IF;
	UPDATE @extschema@.partner x SET ended_at = now()
	 WHERE x.partner_id OPERATOR(pg_catalog.=) p.partner_id;
END
$$;
COMMENT ON FUNCTION @extschema@.end_partner(text) IS
	'end the agreement with a partner now: share() refuses it from then on';

CREATE VIEW @extschema@.partners AS
	SELECT p.name AS partner, p.agreement,
	       ARRAY(SELECT pu.name FROM @extschema@.partner_purpose pp
	               JOIN @extschema@.purpose pu USING (purpose_id)
	              WHERE pp.partner_id = p.partner_id ORDER BY pu.name) AS purposes,
	       ARRAY(SELECT pc.category FROM @extschema@.partner_category pc
	              WHERE pc.partner_id = p.partner_id ORDER BY pc.category) AS categories,
	       p.valid_from, p.valid_until, p.ended_at,
	       CASE WHEN p.ended_at IS NOT NULL THEN 'ended'
	            WHEN p.valid_until <= now() THEN 'expired'
	            ELSE 'active' END AS state,
	       p.registered_by
	  FROM @extschema@.partner p;
COMMENT ON VIEW @extschema@.partners IS
	'registered partners, their agreements and whether each is active, ended or expired';

CREATE FUNCTION @extschema@.share(partner text, source regclass)
RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'personalize_share'
	LANGUAGE C CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.share(text, regclass) IS
	'the rows of a registered table a partner may receive, one jsonb each: subjects whose data may be used for one of its purposes, columns its agreement covers; writes a custody record';

CREATE VIEW @extschema@.custody_log AS
	SELECT c.custody_id, c.partner, c.agreement, c.table_name, c.columns, c.categories,
	       c.purposes, c.row_count, cardinality(c.subjects) AS subjects, c.digest,
	       c.requested_by, c.occurred_at
	  FROM @extschema@.custody_event c;
COMMENT ON VIEW @extschema@.custody_log IS
	'every share() call: who received which columns of which table, how many rows, the SHA-256 of what left, who asked and when';

-- The partners that received a subject's data, from the custody log.
CREATE FUNCTION @extschema@._recipients_by_pseudonym(pseudonym text)
RETURNS TABLE (partner text, agreement text, tables text[], categories text[],
               shares bigint, first_shared_at timestamptz, last_shared_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.partner, c.agreement,
	       array_agg(DISTINCT c.table_name ORDER BY c.table_name),
	       ARRAY(SELECT DISTINCT x FROM unnest(array_agg(c.categories)) x ORDER BY x),
	       count(*), min(c.occurred_at), max(c.occurred_at)
	  FROM @extschema@.custody_event c
	 WHERE c.subjects @> ARRAY[pseudonym]
	 GROUP BY c.partner, c.agreement
	 ORDER BY c.partner, c.agreement
$$;

CREATE FUNCTION @extschema@.recipients(subject text)
RETURNS TABLE (partner text, agreement text, tables text[], categories text[],
               shares bigint, first_shared_at timestamptz, last_shared_at timestamptz)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.* FROM @extschema@._recipients_by_pseudonym(@extschema@.subject_pseudonym(subject)) r
$$;
COMMENT ON FUNCTION @extschema@.recipients(text) IS
	'the partners that received a subject''s data, from the custody log (GDPR Art. 15(1)(c))';

-- How many subjects the data of each purpose may be used for now
-- (src/partner.c): the subjects of the registered tables and of the
-- consent ledger, each read as its owner.  Only for a role that may read
-- record_of_processing.
CREATE FUNCTION @extschema@._subjects_now(OUT purpose_id integer, OUT subjects bigint)
RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'personalize_subjects_now'
	LANGUAGE C STABLE;

-- The record of processing activities (GDPR Art. 30).
CREATE VIEW @extschema@.record_of_processing AS
	SELECT p.name AS purpose, p.description, p.value_exchange, p.lawful_basis,
	       ARRAY(SELECT pc.category FROM @extschema@.purpose_category pc
	              WHERE pc.purpose_id = p.purpose_id ORDER BY pc.category) AS categories,
	       ARRAY(SELECT DISTINCT format('%s: %s', t.relid,
	                                    CASE WHEN r.relid IS NULL THEN 'no retention rule'
	                                         ELSE format('kept %s after %I%s', r.keep, r.time_column,
	                                                     ' when ' || r.condition) END)
	               FROM @extschema@.subject_table t
	               JOIN pg_catalog.pg_seclabel l
	                 ON l.objoid = t.relid::pg_catalog.oid
	                AND l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	                AND l.objsubid > 0 AND l.provider = 'personalize'
	               LEFT JOIN @extschema@.retention_rule r ON r.relid = t.relid
	              WHERE EXISTS (SELECT 1 FROM @extschema@.purpose_category pc
	                             WHERE pc.purpose_id = p.purpose_id
	                               AND (l.label = pc.category OR starts_with(l.label, pc.category || '.')))
	              ORDER BY 1) AS retention,
	       ARRAY(SELECT x.name FROM @extschema@.partner x
	               JOIN @extschema@.partner_purpose pp ON pp.partner_id = x.partner_id
	              WHERE pp.purpose_id = p.purpose_id
	                AND x.ended_at IS NULL AND x.valid_until > now()
	              ORDER BY x.name) AS partners,
	       s.subjects AS subjects_now
	  FROM @extschema@.purpose p
	  LEFT JOIN @extschema@._subjects_now() s ON s.purpose_id = p.purpose_id;
COMMENT ON VIEW @extschema@.record_of_processing IS
	'GDPR Art. 30: each purpose with its lawful basis, categories, the retention of the tables that hold them, the partners that may receive them and how many subjects it may use now';

GRANT SELECT ON @extschema@.partners TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@._partner_column_allowed(integer, text),
	@extschema@.register_partner(text, text, text[], text[], timestamptz),
	@extschema@.end_partner(text),
	@extschema@.share(text, regclass),
	@extschema@._recipients_by_pseudonym(text),
	@extschema@.recipients(text)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.partner', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.partner_partner_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.partner_purpose', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.partner_category', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.custody_event', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.custody_event_custody_id_seq', '');
