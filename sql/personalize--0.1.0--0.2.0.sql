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
