/* personalize--0.2.0.sql: install script of the personalize extension, built from sql/src/header.sql sql/src/monthday.sql sql/src/categories.sql sql/src/purposes.sql sql/src/consent.sql sql/src/intent.sql sql/src/subjects.sql sql/src/classify.sql sql/src/views.sql sql/src/match.sql sql/src/proxies.sql sql/src/retention.sql sql/src/access.sql sql/src/ledgers.sql sql/src/partners.sql sql/src/review.sql sql/src/upgrades.sql sql/src/footer.sql */

-- sql/src/header.sql: the start of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

-- The ledgers live in this schema: whoever owns it, or may create objects
-- in it, could drop them or shadow the extension's functions.  CREATE
-- EXTENSION creates the schema for the installing role; a schema someone
-- else prepared is refused.
DO $$
DECLARE
	nsp record;
	stranger text;
BEGIN
	SELECT n.oid, n.nspowner, n.nspacl INTO nsp
	  FROM pg_catalog.pg_namespace n
	 WHERE n.nspname OPERATOR(pg_catalog.=) '@extschema@';
	IF nsp.nspowner OPERATOR(pg_catalog.<>) current_user::pg_catalog.regrole::pg_catalog.oid THEN
		RAISE EXCEPTION 'schema "@extschema@" belongs to role "%", not to the role installing the extension',
			nsp.nspowner::pg_catalog.regrole
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = 'The extension''s consent ledger lives in this schema; its owner could drop it.',
			      HINT = 'Drop the schema, or have a superuser take it over (ALTER SCHEMA @extschema@ OWNER TO CURRENT_USER), then run CREATE EXTENSION again.';
	END IF;
	SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
	                                           ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END, ', ')
	  INTO stranger
	  FROM pg_catalog.aclexplode(nsp.nspacl) a
	 WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
	   AND a.grantee OPERATOR(pg_catalog.<>) nsp.nspowner;
	IF stranger IS NOT NULL THEN
		RAISE EXCEPTION 'other roles may create objects in schema "@extschema@"'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = pg_catalog.format('CREATE is granted to %s.', stranger),
			      HINT = 'Revoke it (REVOKE CREATE ON SCHEMA @extschema@ FROM ...), then run CREATE EXTENSION again.';
	END IF;
	SELECT pg_catalog.string_agg(o.name, ', ') INTO stranger FROM (
		SELECT c.relname::pg_catalog.text AS name FROM pg_catalog.pg_class c
		 WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND c.relowner OPERATOR(pg_catalog.<>) nsp.nspowner
		UNION ALL
		SELECT p.proname::pg_catalog.text FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND p.proowner OPERATOR(pg_catalog.<>) nsp.nspowner
		UNION ALL
		SELECT t.typname::pg_catalog.text FROM pg_catalog.pg_type t
		 WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp.oid
		   AND t.typowner OPERATOR(pg_catalog.<>) nsp.nspowner) o;
	IF stranger IS NOT NULL THEN
		RAISE EXCEPTION 'schema "@extschema@" holds objects of other roles'
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = pg_catalog.format('Objects: %s.', stranger),
			      HINT = 'Move or drop them, then run CREATE EXTENSION again.';
	END IF;
END
$$;

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-- sql/src/monthday.sql: the monthday type (a day of the year without a year)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TYPE @extschema@.monthday;

CREATE FUNCTION @extschema@.monthday_in(cstring) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_out(@extschema@.monthday) RETURNS cstring
	AS 'MODULE_PATHNAME', 'monthday_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_recv(internal) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_send(@extschema@.monthday) RETURNS bytea
	AS 'MODULE_PATHNAME', 'monthday_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.monthday (
	INPUT = @extschema@.monthday_in,
	OUTPUT = @extschema@.monthday_out,
	RECEIVE = @extschema@.monthday_recv,
	SEND = @extschema@.monthday_send,
	INTERNALLENGTH = 4,
	PASSEDBYVALUE,
	ALIGNMENT = int4,
	STORAGE = plain
);
COMMENT ON TYPE @extschema@.monthday IS
	'a day of the year without a year (MM-DD); 02-29 falls on 02-28 in other years';

CREATE FUNCTION @extschema@.monthday_eq(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_eq' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_ne(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_ne' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_lt(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_lt' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_le(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_le' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_gt(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_gt' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_ge(@extschema@.monthday, @extschema@.monthday) RETURNS boolean
	AS 'MODULE_PATHNAME', 'monthday_ge' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_cmp(@extschema@.monthday, @extschema@.monthday) RETURNS integer
	AS 'MODULE_PATHNAME', 'monthday_cmp' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_sortsupport(internal) RETURNS void
	AS 'MODULE_PATHNAME', 'monthday_sortsupport' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_hash(@extschema@.monthday) RETURNS integer
	AS 'MODULE_PATHNAME', 'monthday_hash' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday_hash_extended(@extschema@.monthday, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'monthday_hash_extended' LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;

CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_eq,
	COMMUTATOR = OPERATOR(@extschema@.=), NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>), NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_lt,
	COMMUTATOR = OPERATOR(@extschema@.>), NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_le,
	COMMUTATOR = OPERATOR(@extschema@.>=), NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_gt,
	COMMUTATOR = OPERATOR(@extschema@.<), NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.monthday, RIGHTARG = @extschema@.monthday,
	FUNCTION = @extschema@.monthday_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=), NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS @extschema@.monthday_ops
	DEFAULT FOR TYPE @extschema@.monthday USING btree AS
		OPERATOR 1 @extschema@.<,
		OPERATOR 2 @extschema@.<=,
		OPERATOR 3 @extschema@.=,
		OPERATOR 4 @extschema@.>=,
		OPERATOR 5 @extschema@.>,
		FUNCTION 1 @extschema@.monthday_cmp(@extschema@.monthday, @extschema@.monthday),
		FUNCTION 2 @extschema@.monthday_sortsupport(internal);

CREATE OPERATOR CLASS @extschema@.monthday_hash_ops
	DEFAULT FOR TYPE @extschema@.monthday USING hash AS
		OPERATOR 1 @extschema@.=,
		FUNCTION 1 @extschema@.monthday_hash(@extschema@.monthday),
		FUNCTION 2 @extschema@.monthday_hash_extended(@extschema@.monthday, bigint);

CREATE FUNCTION @extschema@.monthday(month integer, day integer) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_make'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.monthday(integer, integer) IS
	'the monthday of a month (1-12) and a day of that month';

CREATE FUNCTION @extschema@.monthday(date) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_from_date'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.monthday(timestamp) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_from_timestamp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
-- STABLE: the day of a timestamptz depends on the TimeZone setting
CREATE FUNCTION @extschema@.monthday(timestamptz) RETURNS @extschema@.monthday
	AS 'MODULE_PATHNAME', 'monthday_from_timestamptz'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE CAST (date AS @extschema@.monthday)
	WITH FUNCTION @extschema@.monthday(date);
CREATE CAST (timestamp AS @extschema@.monthday)
	WITH FUNCTION @extschema@.monthday(timestamp);
CREATE CAST (timestamptz AS @extschema@.monthday)
	WITH FUNCTION @extschema@.monthday(timestamptz);

CREATE FUNCTION @extschema@.month(@extschema@.monthday) RETURNS integer
	AS 'MODULE_PATHNAME', 'monthday_month'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.day(@extschema@.monthday) RETURNS integer
	AS 'MODULE_PATHNAME', 'monthday_day'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.next_occurrence(@extschema@.monthday, date) RETURNS date
	AS 'MODULE_PATHNAME', 'monthday_next_occurrence'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.next_occurrence(@extschema@.monthday, date) IS
	'the first date on or after the given date that falls on the monthday (02-29 falls on 02-28 in years without it)';

CREATE FUNCTION @extschema@.monthdays_within(from_date date, days integer)
	RETURNS @extschema@.monthday[]
	AS 'MODULE_PATHNAME', 'monthday_monthdays_within'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.monthdays_within(date, integer) IS
	'every monthday falling on a date from from_date to from_date + days, ascending';

-- Inlined by the planner (a single expression, no SET clause), so that
-- "WHERE within_days(birthday, current_date, 30)" becomes
-- "birthday = ANY (monthdays_within(...))" and can use a btree index.
CREATE FUNCTION @extschema@.within_days(md @extschema@.monthday, from_date date, days integer)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT $1 OPERATOR(@extschema@.=) ANY (@extschema@.monthdays_within($2, $3)) $$;
COMMENT ON FUNCTION @extschema@.within_days(@extschema@.monthday, date, integer) IS
	'true if the monthday falls on a date from from_date to from_date + days (index-friendly)';

-- sql/src/categories.sql: data categories: the taxonomy every classification refers to
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Self-references (a purpose's parent, a category's proxy) are checked by
-- deferred triggers rather than foreign keys: pg_dump warns about
-- "circular foreign-key constraints" for every self-referencing key of an
-- extension's configuration table, and a restore loads such a table with
-- one COPY, in whatever order its rows are stored.
CREATE FUNCTION @extschema@._check_self_reference() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_TABLE_NAME = 'purpose' THEN
		IF TG_OP = 'DELETE' THEN
			IF EXISTS (SELECT 1 FROM @extschema@.purpose p WHERE p.parent_id = OLD.purpose_id) THEN
				RAISE EXCEPTION 'purpose "%" has sub-purposes', OLD.name
					USING ERRCODE = 'foreign_key_violation';
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.parent_id IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM @extschema@.purpose p WHERE p.purpose_id = NEW.parent_id) THEN
			RAISE EXCEPTION 'parent % of purpose "%" does not exist', NEW.parent_id, NEW.name
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	ELSE
		IF TG_OP = 'DELETE' THEN
			IF EXISTS (SELECT 1 FROM @extschema@.data_category c WHERE c.proxy_for = OLD.name) THEN
				RAISE EXCEPTION 'data category "%" is named as the target of a proxy', OLD.name
					USING ERRCODE = 'foreign_key_violation';
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.proxy_for IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM @extschema@.data_category c WHERE c.name = NEW.proxy_for) THEN
			RAISE EXCEPTION 'data category "%" does not exist', NEW.proxy_for
				USING ERRCODE = 'foreign_key_violation';
		END IF;
	END IF;
	RETURN NEW;
END
$$;
CREATE TABLE @extschema@.data_category (
	name        text PRIMARY KEY
	            CONSTRAINT data_category_name_check
	            CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
	sensitivity text NOT NULL
	            CONSTRAINT data_category_sensitivity_check
	            CHECK (sensitivity IN ('none', 'personal', 'sensitive', 'special')),
	demographic boolean NOT NULL DEFAULT false,
	proxy_for   text,               -- a category name: see data_category_proxy_exists
	description text,
	builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.data_category IS
	'data categories (fideslang-style names), their sensitivity, and what a proxy stands in for';

-- Sensitivity: none (not about a person), personal (identifies or describes
-- a person), sensitive (harmful if misused: age, gender, finances, precise
-- location, government ids), special (GDPR Art. 9 and 10 categories).
INSERT INTO @extschema@.data_category (name, sensitivity, demographic, description, builtin) VALUES
	('system', 'none', false, 'data about systems and operations, not about a person', true),
	('system.operations', 'none', false, 'operational data: order totals, timestamps, ids of non-personal records', true),
	('user', 'personal', false, 'data about a person', true),
	('user.name', 'personal', false, 'a person''s name', true),
	('user.unique_id', 'personal', false, 'an identifier of a person: customer number, account id', true),
	('user.account', 'personal', false, 'account data: username, settings', true),
	('user.contact', 'personal', false, 'contact data', true),
	('user.contact.email', 'personal', false, 'email address', true),
	('user.contact.phone_number', 'personal', false, 'phone number', true),
	('user.contact.address', 'personal', false, 'postal address', true),
	('user.contact.address.street', 'personal', false, 'street and house number', true),
	('user.contact.address.city', 'personal', false, 'city', true),
	('user.contact.address.country', 'personal', false, 'country', true),
	('user.contact.address.postal_code', 'personal', false, 'postal code', true),
	('user.demographic', 'sensitive', true, 'who a person is, rather than what they want', true),
	('user.demographic.age', 'sensitive', true, 'age or age range', true),
	('user.demographic.date_of_birth', 'sensitive', true, 'date of birth with its year', true),
	('user.demographic.gender', 'sensitive', true, 'gender or sex', true),
	('user.demographic.marital_status', 'sensitive', true, 'marital or family status', true),
	('user.demographic.race_ethnicity', 'special', true, 'racial or ethnic origin (GDPR Art. 9)', true),
	('user.demographic.religious_belief', 'special', true, 'religious or philosophical beliefs (GDPR Art. 9)', true),
	('user.demographic.sexual_orientation', 'special', true, 'sex life or sexual orientation (GDPR Art. 9)', true),
	('user.demographic.political_opinion', 'special', true, 'political opinions (GDPR Art. 9)', true),
	('user.demographic.trade_union_membership', 'special', true, 'trade union membership (GDPR Art. 9)', true),
	('user.health_and_medical', 'special', false, 'health data (GDPR Art. 9)', true),
	('user.biometric', 'special', false, 'biometric data used to identify a person (GDPR Art. 9)', true),
	('user.genetic', 'special', false, 'genetic data (GDPR Art. 9)', true),
	('user.criminal_history', 'special', false, 'criminal convictions and offences (GDPR Art. 10)', true),
	('user.government_id', 'sensitive', false, 'government identifiers: national id, passport, social security number', true),
	('user.financial', 'sensitive', false, 'financial data: income, credit, bank accounts', true),
	('user.financial.bank_account', 'sensitive', false, 'bank account and IBAN', true),
	('user.payment', 'sensitive', false, 'payment card data', true),
	('user.location', 'personal', false, 'where a person is', true),
	('user.location.imprecise', 'personal', false, 'coarse location: region, city', true),
	('user.location.precise', 'sensitive', false, 'precise location: GPS coordinates', true),
	('user.device', 'personal', false, 'device data', true),
	('user.device.ip_address', 'personal', false, 'IP address', true),
	('user.behavior', 'personal', false, 'what a person did: views, clicks, purchases', true),
	('user.behavior.purchase_history', 'personal', false, 'what a person bought', true),
	('user.behavior.browsing_history', 'personal', false, 'what a person looked at', true),
	('user.content', 'personal', false, 'content a person created: reviews, messages', true),
	('user.preference', 'personal', false, 'interests and preferences a person stated', true);
-- proxies: categories that stand in for a protected one
UPDATE @extschema@.data_category SET proxy_for = 'user.demographic.race_ethnicity'
 WHERE name = 'user.contact.address.postal_code';
CREATE CONSTRAINT TRIGGER data_category_proxy_exists
	AFTER INSERT OR UPDATE OF proxy_for ON @extschema@.data_category
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION @extschema@._check_self_reference();
CREATE TRIGGER data_category_no_dangling_proxy
	BEFORE DELETE ON @extschema@.data_category
	FOR EACH ROW EXECUTE FUNCTION @extschema@._check_self_reference();

-- Up to three known categories that share the longest dotted prefix with an
-- unknown name: the "did you mean" of every category error.
CREATE FUNCTION @extschema@._closest_categories(unknown text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(string_agg(name, ', ' ORDER BY score DESC, name), '')
	  FROM (SELECT c.name,
	               (SELECT count(*) FROM generate_series(1, least(cardinality(a), cardinality(b))) i
	                 WHERE a[i] OPERATOR(pg_catalog.=) b[i]
	                   AND NOT EXISTS (SELECT 1 FROM generate_series(1, i) j
	                                    WHERE a[j] OPERATOR(pg_catalog.<>) b[j]))
	               OPERATOR(pg_catalog.*) 10
	               OPERATOR(pg_catalog.-) abs(cardinality(a) OPERATOR(pg_catalog.-) cardinality(b)) AS score
	          FROM @extschema@.data_category c,
	               LATERAL (SELECT string_to_array(c.name, '.') AS a,
	                               string_to_array(unknown, '.') AS b) s
	         ORDER BY 2 DESC, 1
	         LIMIT 3) best;
$$;

-- Raise the error for an unknown category.
CREATE FUNCTION @extschema@._unknown_category(category text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF category IS NULL THEN
		RAISE EXCEPTION 'data category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	RAISE EXCEPTION 'data category "%" does not exist', category
		USING ERRCODE = 'undefined_object',
		      HINT = format('Closest known categories: %s. Add one with define_category().',
		                    @extschema@._closest_categories(category));
END
$$;

CREATE FUNCTION @extschema@.define_category(
	name text,
	sensitivity text DEFAULT 'personal',
	description text DEFAULT NULL,
	proxy_for text DEFAULT NULL,
	demographic boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	parent record;
	levels constant text[] := ARRAY['none', 'personal', 'sensitive', 'special'];
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'data category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' THEN
		RAISE EXCEPTION 'invalid data category name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use lower-case dotted names, such as "user.preference.cuisine".';
	END IF;
	IF sensitivity IS NULL THEN
		RAISE EXCEPTION 'sensitivity must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT sensitivity OPERATOR(pg_catalog.=) ANY (levels) THEN
		RAISE EXCEPTION 'invalid sensitivity "%"', sensitivity
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use none, personal, sensitive or special.';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.data_category c WHERE c.name OPERATOR(pg_catalog.=) define_category.name) THEN
		RAISE EXCEPTION 'data category "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF define_category.proxy_for IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM @extschema@.data_category c
		 WHERE c.name OPERATOR(pg_catalog.=) define_category.proxy_for) THEN
		PERFORM @extschema@._unknown_category(define_category.proxy_for);
	END IF;

	-- the nearest existing ancestor: a child is never less protected
	SELECT c.* INTO parent FROM @extschema@.data_category c
	 WHERE starts_with(define_category.name, c.name OPERATOR(pg_catalog.||) '.')
	 ORDER BY length(c.name) DESC LIMIT 1;
	IF FOUND THEN
		IF array_position(levels, sensitivity) OPERATOR(pg_catalog.<) array_position(levels, parent.sensitivity) THEN
			RAISE EXCEPTION 'data category "%" cannot be less sensitive than "%"', name, parent.name
				USING ERRCODE = 'invalid_parameter_value',
				      DETAIL = format('"%s" is %s.', parent.name, parent.sensitivity),
				      HINT = format('Use sensitivity %s or higher.', parent.sensitivity);
		END IF;
		IF parent.demographic AND define_category.demographic IS FALSE THEN
			RAISE EXCEPTION 'data category "%" is under demographic category "%"', name, parent.name
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		define_category.demographic := coalesce(define_category.demographic, parent.demographic);
		define_category.proxy_for := coalesce(define_category.proxy_for, parent.proxy_for);
	END IF;

	INSERT INTO @extschema@.data_category (name, sensitivity, demographic, proxy_for, description)
	VALUES (define_category.name, define_category.sensitivity,
	        coalesce(define_category.demographic, false), define_category.proxy_for,
	        define_category.description);
END
$$;
COMMENT ON FUNCTION @extschema@.define_category(text, text, text, text, boolean) IS
	'add a data category; a child category is at least as sensitive as its parent';

GRANT SELECT ON @extschema@.data_category TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@.define_category(text, text, text, text, boolean),
	@extschema@._check_self_reference(),
	@extschema@._closest_categories(text),
	@extschema@._unknown_category(text)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.data_category', 'WHERE NOT builtin');

-- sql/src/purposes.sql: purposes: what data is used for, and what the customer gets in return
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- The lawful bases of GDPR Art. 6, in one place: the purpose table's CHECK,
-- define_purpose() and its hint read them here.  src/purpose.h names
-- 'consent', the one basis that needs the subject's grant.
CREATE FUNCTION @extschema@._lawful_bases() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['consent', 'contract', 'legal_obligation', 'vital_interests',
                   'public_task', 'legitimate_interests']::text[] $$;

CREATE TABLE @extschema@.purpose (
	-- src/names.h: has_consent() reads both keys by name
	purpose_id     integer GENERATED BY DEFAULT AS IDENTITY
	               CONSTRAINT purpose_pkey PRIMARY KEY,
	name           text NOT NULL
	               CONSTRAINT purpose_name_key UNIQUE
	               CONSTRAINT purpose_name_check
	               CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
	description    text NOT NULL,
	value_exchange text NOT NULL
	               CONSTRAINT purpose_value_exchange_check
	               CHECK (btrim(value_exchange) <> ''),
	parent_id      integer,         -- a purpose: see purpose_parent_exists
	builtin        boolean NOT NULL DEFAULT false,
	created_at     timestamptz NOT NULL DEFAULT now(),
	-- 0.2.0; may_process() reads it (src/consent.c)
	lawful_basis   text NOT NULL DEFAULT 'consent'
	               CONSTRAINT purpose_lawful_basis_check
	               CHECK (lawful_basis = ANY (@extschema@._lawful_bases()))
);
COMMENT ON TABLE @extschema@.purpose IS
	'purposes personal data is used for, each with the value the customer gets in return';

CREATE TABLE @extschema@.purpose_category (
	purpose_id integer NOT NULL REFERENCES @extschema@.purpose (purpose_id) ON DELETE CASCADE,
	category   text NOT NULL REFERENCES @extschema@.data_category (name),
	builtin    boolean NOT NULL DEFAULT false,
	PRIMARY KEY (purpose_id, category)
);
COMMENT ON TABLE @extschema@.purpose_category IS
	'the data categories each purpose needs (data minimization)';

-- The purpose_id of a purpose name, or the error for an unknown purpose
-- (src/purpose.c: the same message and hint wherever a purpose is named).
CREATE FUNCTION @extschema@._purpose_id(purpose text) RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_purpose_id'
	LANGUAGE C STABLE;

-- How deep purposes may nest: as deep as has_consent() reads (src/purpose.h).
CREATE FUNCTION @extschema@._purpose_depth_limit() RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_purpose_depth_limit'
	LANGUAGE C IMMUTABLE;

-- A purpose hierarchy must stay a tree that has_consent() can read,
-- however it is edited: no cycle, and no deeper than the limit.
CREATE FUNCTION @extschema@._purpose_check_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cur integer := NEW.parent_id;
	ancestors integer := 0;
	below integer;
	limit_ constant integer := @extschema@._purpose_depth_limit();
BEGIN
	WHILE cur IS NOT NULL AND ancestors OPERATOR(pg_catalog.<=) limit_ LOOP
		IF cur OPERATOR(pg_catalog.=) NEW.purpose_id THEN
			RAISE EXCEPTION 'purpose "%" cannot be its own ancestor', NEW.name
				USING ERRCODE = 'invalid_recursion',
				      HINT = 'Purposes form a tree: choose a parent that is not below this purpose.';
		END IF;
		SELECT p.parent_id INTO cur FROM @extschema@.purpose p
		 WHERE p.purpose_id OPERATOR(pg_catalog.=) cur;
		ancestors := ancestors OPERATOR(pg_catalog.+) 1;
	END LOOP;
	-- the levels below this purpose, which move with it
	WITH RECURSIVE sub(purpose_id, level) AS (
		SELECT p.purpose_id, 1 FROM @extschema@.purpose p
		 WHERE p.parent_id OPERATOR(pg_catalog.=) NEW.purpose_id
		UNION ALL
		SELECT p.purpose_id, s.level OPERATOR(pg_catalog.+) 1
		  FROM @extschema@.purpose p JOIN sub s ON p.parent_id OPERATOR(pg_catalog.=) s.purpose_id
		 WHERE s.level OPERATOR(pg_catalog.<=) limit_)
	SELECT coalesce(pg_catalog.max(level), 0) INTO below FROM sub;
	IF ancestors OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.+) below OPERATOR(pg_catalog.>) limit_ THEN
		RAISE EXCEPTION 'purpose "%" would be nested more than % levels deep', NEW.name, limit_
			USING ERRCODE = 'program_limit_exceeded',
			      DETAIL = pg_catalog.format('A purpose and its ancestors may span at most %s levels, as many as has_consent() reads.', limit_),
			      HINT = 'Choose a parent higher in the hierarchy.';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER purpose_no_cycle
	BEFORE INSERT OR UPDATE OF parent_id ON @extschema@.purpose
	FOR EACH ROW EXECUTE FUNCTION @extschema@._purpose_check_cycle();

CREATE CONSTRAINT TRIGGER purpose_parent_exists
	AFTER INSERT OR UPDATE OF parent_id ON @extschema@.purpose
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION @extschema@._check_self_reference();
CREATE TRIGGER purpose_no_orphans
	BEFORE DELETE ON @extschema@.purpose
	FOR EACH ROW EXECUTE FUNCTION @extschema@._check_self_reference();

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

INSERT INTO @extschema@.purpose (name, description, value_exchange, builtin) VALUES
	('personalization',
	 'choosing offers and content from the interests a customer states and from their behaviour in our shop',
	 'offers and content that match what you told us you like, instead of generic ones',
	 true);
INSERT INTO @extschema@.purpose_category (purpose_id, category, builtin)
	SELECT purpose_id, c, true
	  FROM @extschema@.purpose, unnest(ARRAY['user.preference', 'user.behavior']) c
	 WHERE name = 'personalization';

GRANT SELECT ON @extschema@.purpose, @extschema@.purpose_category TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@.define_purpose(text, text, text, text[], text, text),
	@extschema@._lawful_bases(),
	@extschema@._purpose_check_cycle(),
	@extschema@._purpose_id(text),
	@extschema@._purpose_depth_limit()
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose_purpose_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose_category', 'WHERE NOT builtin');

-- sql/src/consent.sql: consent: current state, an append-only history, has_consent()
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Current state, one row per subject and purpose: state g(ranted),
-- w(ithdrawn) or e(xpired); the view "consents" spells them out.
-- has_consent() reads this table directly (src/consent.c); the fixed-width
-- columns it filters on come first so a bulk read can skip rows cheaply.
CREATE TABLE @extschema@.consent (
	purpose_id integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	state      "char" NOT NULL
	           CONSTRAINT consent_state_check CHECK (state IN ('g', 'w', 'e')),
	subject    text COLLATE "C" NOT NULL,
	expires_at timestamptz,
	source     text,
	updated_at timestamptz NOT NULL,
	event_id   bigint NOT NULL,
	-- src/names.h: has_consent() reads it by name
	CONSTRAINT consent_pkey PRIMARY KEY (subject, purpose_id)
);
COMMENT ON TABLE @extschema@.consent IS
	'current consent state per subject and purpose (g granted, w withdrawn, e expired); written only by grant_consent, withdraw_consent and forget';

CREATE TABLE @extschema@.consent_event (
	event_id    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	subject     text COLLATE "C" NOT NULL,
	purpose_id  integer REFERENCES @extschema@.purpose (purpose_id),
	action      text NOT NULL
	            CONSTRAINT consent_event_action_check
	            CHECK (action IN ('grant', 'withdraw', 'expire', 'forget')),
	source      text,
	expires_at  timestamptz,
	occurred_at timestamptz NOT NULL DEFAULT now(),
	recorded_by name NOT NULL DEFAULT session_user,
	-- the hash chain (sql/src/ledgers.sql, src/ledger.c)
	chain_seq   bigint NOT NULL,
	prev_hash   bytea NOT NULL,
	entry_hash  bytea NOT NULL,
	CONSTRAINT consent_event_purpose_check
		CHECK ((action = 'forget') = (purpose_id IS NULL))
);
CREATE INDEX consent_event_subject_idx ON @extschema@.consent_event (subject);
COMMENT ON TABLE @extschema@.consent_event IS
	'every consent event, append-only; forget() replaces the subject by a keyed pseudonym';

-- UPDATE, DELETE and TRUNCATE are refused, for every role, except on the
-- erasure path of forget() (src/ledger.c).
CREATE FUNCTION @extschema@._ledger_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'personalize_ledger_guard'
	LANGUAGE C;
CREATE TRIGGER consent_event_append_only
	BEFORE UPDATE OR DELETE ON @extschema@.consent_event
	FOR EACH ROW EXECUTE FUNCTION @extschema@._ledger_guard();
CREATE TRIGGER consent_event_no_truncate
	BEFORE TRUNCATE ON @extschema@.consent_event
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._ledger_guard();

-- The key of forget()'s pseudonyms, created on first use (src/ledger.c).
-- Readable by the extension's owner only; kept by pg_dump so pseudonyms stay
-- stable across a dump and restore.
CREATE TABLE @extschema@.pseudonym_key (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	key      bytea NOT NULL CHECK (length(key) >= 32)
);
COMMENT ON TABLE @extschema@.pseudonym_key IS
	'secret key of the keyed pseudonyms forget() writes into consent history';

CREATE VIEW @extschema@.consents AS
	SELECT c.subject, p.name AS purpose,
	       CASE WHEN c.state = 'w' THEN 'withdrawn'
	            WHEN c.state = 'e' OR c.expires_at <= now() THEN 'expired'
	            ELSE 'granted' END AS status,
	       c.source, c.updated_at, c.expires_at, p.lawful_basis
	  FROM @extschema@.consent c
	  JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consents IS
	'current consent per subject and purpose (status granted, withdrawn or expired), with the purpose''s lawful basis';

CREATE VIEW @extschema@.consent_history AS
	SELECT e.event_id, e.subject, p.name AS purpose, e.action, e.source,
	       e.expires_at, e.occurred_at, e.recorded_by
	  FROM @extschema@.consent_event e
	  LEFT JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consent_history IS
	'every consent event, oldest first by event_id; append-only';

-- Every function that records or changes a subject's data calls this
-- first (src/subject.c): the key must be valid (not empty, no control
-- characters, no white space at either end) and in the canonical form of
-- every registered subject column; the subject's lock is taken shared, so
-- that forget(), which takes it alone, cannot erase around a write.
CREATE FUNCTION @extschema@._subject_write(subject text) RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_subject_write'
	LANGUAGE C;

-- Write one consent event and the new current state.
CREATE FUNCTION @extschema@._record_consent(
	subject text, purpose text, action text, new_state "char",
	source text, expires_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	pid integer;
	eid bigint;
BEGIN
	PERFORM @extschema@._subject_write(subject);
	pid := @extschema@._purpose_id(purpose);
	INSERT INTO @extschema@.consent_event (subject, purpose_id, action, source, expires_at)
	VALUES (subject, pid, action, source, expires_at)
	RETURNING event_id INTO eid;
	INSERT INTO @extschema@.consent AS c
	       (purpose_id, state, subject, expires_at, source, updated_at, event_id)
	VALUES (pid, new_state, subject, expires_at, source, now(), eid)
	ON CONFLICT ON CONSTRAINT consent_pkey DO UPDATE
	   SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at,
	       source = EXCLUDED.source, updated_at = EXCLUDED.updated_at,
	       event_id = EXCLUDED.event_id;
	RETURN eid;
END
$$;

CREATE FUNCTION @extschema@.grant_consent(
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

CREATE FUNCTION @extschema@.withdraw_consent(
	subject text,
	purpose text,
	source text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN @extschema@._record_consent(subject, purpose, 'withdraw', 'w', source, NULL);
END
$$;
COMMENT ON FUNCTION @extschema@.withdraw_consent(text, text, text) IS
	'record that the subject withdraws (or refuses) consent to the purpose and its sub-purposes, or objects to a purpose on another lawful basis; returns the event id';

CREATE FUNCTION @extschema@.has_consent(subject text, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_consent_text'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.has_consent(subject bigint, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_consent_int8'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION @extschema@.has_consent(subject uuid, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'personalize_has_consent_uuid'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.has_consent(text, text) IS
	'true if the subject has current, unexpired consent to the purpose (or an ancestor) and has withdrawn neither';
COMMENT ON FUNCTION @extschema@.has_consent(bigint, text) IS
	'has_consent for a bigint subject key, without converting it to text per row';
COMMENT ON FUNCTION @extschema@.has_consent(uuid, text) IS
	'has_consent for a uuid subject key, without converting it to text per row';

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

REVOKE ALL ON FUNCTION
	@extschema@.grant_consent(text, text, text, timestamptz),
	@extschema@.withdraw_consent(text, text, text),
	@extschema@._ledger_guard(),
	@extschema@._subject_write(text),
	@extschema@._record_consent(text, text, text, "char", text, timestamptz)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_event_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pseudonym_key', '');

-- sql/src/intent.sql: explicit intent and behaviour: tags, intents, signals
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.tag (
	tag         text PRIMARY KEY
	            CONSTRAINT tag_name_check
	            CHECK (tag ~ '^[a-z0-9][a-z0-9_.-]*$'),
	category    text NOT NULL DEFAULT 'user.preference'
	            REFERENCES @extschema@.data_category (name),
	description text,
	created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.tag IS
	'interests customers can state and offers can carry; never demographic, sensitive or proxy';

CREATE TABLE @extschema@.intent (
	subject   text COLLATE "C" NOT NULL,
	tag       text NOT NULL REFERENCES @extschema@.tag (tag),
	weight    real NOT NULL
	          CONSTRAINT intent_weight_check
	          CHECK (weight <> 0 AND weight > '-Infinity' AND weight < 'Infinity'),
	stated_at timestamptz NOT NULL DEFAULT now(),
	-- src/names.h: match() reads it by name
	CONSTRAINT intent_pkey PRIMARY KEY (subject, tag)
);
COMMENT ON TABLE @extschema@.intent IS
	'what customers said they want (positive weight) or want to avoid (negative weight)';

CREATE TABLE @extschema@.signal (
	signal_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	subject   text COLLATE "C" NOT NULL,
	tag       text NOT NULL REFERENCES @extschema@.tag (tag),
	kind      text NOT NULL
	          CONSTRAINT signal_kind_check CHECK (kind ~ '^[a-z][a-z0-9_]*$'),
	weight    real NOT NULL
	          CONSTRAINT signal_weight_check
	          CHECK (weight > '-Infinity' AND weight < 'Infinity'),
	at        timestamptz NOT NULL,
	-- the offer a purchase records (record_purchase()), else NULL
	offer_id  text COLLATE "C"
);
CREATE INDEX signal_subject_idx ON @extschema@.signal (subject, tag);
COMMENT ON TABLE @extschema@.signal IS
	'behaviour signals (view, click, purchase ...) of consenting customers';

CREATE FUNCTION @extschema@.define_tag(
	tag text,
	category text DEFAULT 'user.preference',
	description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c @extschema@.data_category;
	why text;
BEGIN
	IF tag IS NULL THEN
		RAISE EXCEPTION 'tag must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF tag !~ '^[a-z0-9][a-z0-9_.-]*$' THEN
		RAISE EXCEPTION 'invalid tag "%"', tag
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use lower-case words, digits, "_", "-" and ".", such as "running" or "trail-running".';
	END IF;
	IF category IS NULL THEN
		RAISE EXCEPTION 'data category must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO c FROM @extschema@.data_category d WHERE d.name OPERATOR(pg_catalog.=) category;
	IF NOT FOUND THEN
		PERFORM @extschema@._unknown_category(category);
	END IF;
	why := CASE
		WHEN c.demographic THEN 'is demographic: it describes who customers are, not what they want'
		WHEN c.sensitivity OPERATOR(pg_catalog.=) 'special' THEN 'is a special category of personal data'
		WHEN c.sensitivity OPERATOR(pg_catalog.=) 'sensitive' THEN 'is sensitive personal data'
		WHEN c.proxy_for IS NOT NULL THEN format('is a proxy for "%s"', c.proxy_for)
	END;
	IF why IS NOT NULL THEN
		RAISE EXCEPTION 'tag "%" cannot be in category "%"', tag, category
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('Category "%s" %s, and tags are used for targeting.', category, why),
			      HINT = 'Target interests customers state themselves: define tags in "user.preference" (or "user.behavior") and let customers choose them with state_intent().';
	END IF;
	IF EXISTS (SELECT 1 FROM @extschema@.tag t WHERE t.tag OPERATOR(pg_catalog.=) define_tag.tag) THEN
		RAISE EXCEPTION 'tag "%" already exists', tag
			USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO @extschema@.tag (tag, category, description) VALUES (tag, category, description);
END
$$;
COMMENT ON FUNCTION @extschema@.define_tag(text, text, text) IS
	'define an interest tag; demographic, sensitive, special and proxy categories are refused';

-- The tag, or an error saying it is unknown.
CREATE FUNCTION @extschema@._check_tag(tag text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tag IS NULL THEN
		RAISE EXCEPTION 'tag must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.tag t WHERE t.tag OPERATOR(pg_catalog.=) _check_tag.tag) THEN
		RAISE EXCEPTION 'tag "%" does not exist', tag
			USING ERRCODE = 'undefined_object',
			      HINT = 'Define it with define_tag().';
	END IF;
END
$$;

-- A weight must be a finite number.
CREATE FUNCTION @extschema@._check_weight(weight real, allow_zero boolean) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF weight IS NULL THEN
		RAISE EXCEPTION 'weight must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF weight = 'NaN'::real OR weight = 'Infinity'::real OR weight = '-Infinity'::real THEN
		RAISE EXCEPTION 'weight must be a finite number'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('The weight is %s.', weight);
	END IF;
	IF weight = 0 AND NOT allow_zero THEN
		RAISE EXCEPTION 'weight must not be zero'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use a positive weight for "I want this", a negative one for "avoid this", or clear_intent() to remove the intent.';
	END IF;
END
$$;

CREATE FUNCTION @extschema@.state_intent(
	subject text,
	tag text,
	weight real DEFAULT 1)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@._subject_write(subject);
	PERFORM @extschema@._check_tag(tag);
	PERFORM @extschema@._check_weight(weight, false);
	INSERT INTO @extschema@.intent AS i (subject, tag, weight, stated_at)
	VALUES (subject, tag, weight, now())
	ON CONFLICT ON CONSTRAINT intent_pkey DO UPDATE
	   SET weight = EXCLUDED.weight, stated_at = EXCLUDED.stated_at;
END
$$;
COMMENT ON FUNCTION @extschema@.state_intent(text, text, real) IS
	'record what the subject said they want (weight > 0) or want to avoid (weight < 0)';

CREATE FUNCTION @extschema@.clear_intent(subject text, tag text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
BEGIN
	PERFORM @extschema@._subject_write(subject);
	DELETE FROM @extschema@.intent i
	 WHERE i.subject OPERATOR(pg_catalog.=) clear_intent.subject
	   AND (clear_intent.tag IS NULL OR i.tag OPERATOR(pg_catalog.=) clear_intent.tag);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.clear_intent(text, text) IS
	'forget one stated intent of the subject, or all of them when tag is NULL; returns how many';

CREATE FUNCTION @extschema@.record_signal(
	subject text,
	tag text,
	kind text,
	weight real DEFAULT 1,
	at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM @extschema@._subject_write(subject);
	PERFORM @extschema@._check_tag(tag);
	PERFORM @extschema@._check_weight(weight, true);
	IF kind IS NULL THEN
		RAISE EXCEPTION 'signal kind must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF kind !~ '^[a-z][a-z0-9_]*$' THEN
		RAISE EXCEPTION 'invalid signal kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Use a lower-case word such as view, click or purchase.';
	END IF;
	IF at IS NULL THEN
		RAISE EXCEPTION 'signal time must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF at OPERATOR(pg_catalog.>) (clock_timestamp() OPERATOR(pg_catalog.+) interval '5 minutes') THEN
		RAISE EXCEPTION 'signal time must not be in the future'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('The signal time is %s.', at);
	END IF;
	-- behaviour is only kept for subjects who agreed to personalization
	IF NOT @extschema@.has_consent(subject, 'personalization') THEN
		RETURN false;
	END IF;
	INSERT INTO @extschema@.signal (subject, tag, kind, weight, at)
	VALUES (subject, tag, kind, weight, at);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.record_signal(text, text, text, real, timestamptz) IS
	'record a behaviour signal; returns false and keeps nothing when the subject has no consent to personalization';

GRANT SELECT ON @extschema@.tag TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@.define_tag(text, text, text),
	@extschema@.state_intent(text, text, real),
	@extschema@.clear_intent(text, text),
	@extschema@.record_signal(text, text, text, real, timestamptz),
	@extschema@._check_tag(text),
	@extschema@._check_weight(real, boolean)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tag', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.intent', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.signal', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.signal_signal_id_seq', '');

-- sql/src/subjects.sql: tables that hold subject data, and the subject's rights
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.subject_table (
	relid          regclass PRIMARY KEY,
	subject_column name NOT NULL,
	-- the column's type when last checked: a change is checked again
	-- (src/subject.c: the ledgers' keys must stay canonical for it)
	subject_type   regtype NOT NULL,
	registered_at  timestamptz NOT NULL DEFAULT now(),
	registered_by  name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE @extschema@.subject_table IS
	'registered tables holding subject data, and the column naming the subject';

CREATE FUNCTION @extschema@.register_table(tbl regclass, subject_column name)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_register_table'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.register_table(regclass, name) IS
	'declare that a table holds subject data, keyed by subject_column (the caller must own the table)';

CREATE FUNCTION @extschema@.unregister_table(tbl regclass)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_unregister_table'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.unregister_table(regclass) IS
	'remove a table from the registry of subject tables (the caller must own the table)';

CREATE FUNCTION @extschema@.export_subject(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_export_subject'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.export_subject(text) IS
	'everything held about a subject, with consents, history, purposes, intents and signals; the caller needs SELECT on every registered table, which is read as its owner';

CREATE FUNCTION @extschema@.forget(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_forget'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.forget(text) IS
	'erase a subject from every registered table and from intents, signals and consents, and pseudonymize its consent history; the caller needs DELETE on every registered table, which is erased as its owner';

CREATE FUNCTION @extschema@.subject_pseudonym(subject text)
RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_subject_pseudonym'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.subject_pseudonym(text) IS
	'the keyed pseudonym forget() writes into consent history for this subject';

-- For _on_ddl_end: a subject column's new type must name subjects alike.
CREATE FUNCTION @extschema@._check_subject_type(tbl regclass, typid oid, subject_column text)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_check_subject_type'
	LANGUAGE C STRICT;

-- Keep the registries true to the catalogs: a dropped table leaves them;
-- the subject column of a registered table cannot be dropped; a renamed
-- subject column, or time column of a retention rule, is followed; a
-- subject column whose type changes is checked again.
CREATE FUNCTION @extschema@._on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col record;
BEGIN
	SELECT s.relid, s.subject_column INTO col
	  FROM pg_event_trigger_dropped_objects() d
	  JOIN @extschema@.subject_table s
	    ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.objid OPERATOR(pg_catalog.=) s.relid::oid
	   AND d.objsubid OPERATOR(pg_catalog.>) 0
	   AND d.address_names[3] OPERATOR(pg_catalog.=) s.subject_column::text
	 WHERE NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() t
	                    WHERE t.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	                      AND t.objid OPERATOR(pg_catalog.=) s.relid::oid
	                      AND t.objsubid OPERATOR(pg_catalog.=) 0)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot drop column "%" of table %', col.subject_column, col.relid
			USING ERRCODE = 'dependent_objects_still_exist',
			      DETAIL = 'It is the subject column of a registered subject table.',
			      HINT = 'Call personalize.unregister_table() first.';
	END IF;
	DELETE FROM @extschema@.subject_table s
	 USING pg_event_trigger_dropped_objects() d
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.objid OPERATOR(pg_catalog.=) s.relid::oid
	   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	IF to_regclass('@extschema@.retention_rule') IS NOT NULL THEN
		DELETE FROM @extschema@.retention_rule r
		 USING pg_event_trigger_dropped_objects() d
		 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
		   AND d.objid OPERATOR(pg_catalog.=) r.relid::oid
		   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	END IF;
	IF to_regclass('@extschema@.consent_view') IS NOT NULL THEN
		DELETE FROM @extschema@.consent_view v
		 USING pg_event_trigger_dropped_objects() d
		 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
		   AND d.objid OPERATOR(pg_catalog.=) v.view::oid
		   AND d.objsubid OPERATOR(pg_catalog.=) 0;
	END IF;
END
$$;
CREATE EVENT TRIGGER personalize_sql_drop ON sql_drop
	EXECUTE FUNCTION @extschema@._on_sql_drop();

-- For _on_ddl_end: the new name of a column a registry names, when the
-- ALTER TABLE being reported renamed it (the old name is gone).
CREATE FUNCTION @extschema@._renamed_column(tbl regclass, old_name name) RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT a.attname
	  FROM pg_event_trigger_ddl_commands() c
	  JOIN pg_catalog.pg_attribute a
	    ON a.attrelid OPERATOR(pg_catalog.=) c.objid
	   AND a.attnum OPERATOR(pg_catalog.=) c.objsubid
	 WHERE c.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'
	   AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND c.objsubid OPERATOR(pg_catalog.>) 0
	   AND c.objid OPERATOR(pg_catalog.=) tbl::oid
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute x
	                    WHERE x.attrelid OPERATOR(pg_catalog.=) tbl::oid
	                      AND x.attname OPERATOR(pg_catalog.=) old_name
	                      AND NOT x.attisdropped)
	 LIMIT 1
$$;

CREATE FUNCTION @extschema@._on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	-- a renamed subject column, or time column of a retention rule: the
	-- registries name the column's new name
	UPDATE @extschema@.subject_table s
	   SET subject_column = @extschema@._renamed_column(s.relid, s.subject_column)
	 WHERE @extschema@._renamed_column(s.relid, s.subject_column) IS NOT NULL;
	IF to_regclass('@extschema@.retention_rule') IS NOT NULL THEN
		UPDATE @extschema@.retention_rule u
		   SET time_column = @extschema@._renamed_column(u.relid, u.time_column)
		 WHERE @extschema@._renamed_column(u.relid, u.time_column) IS NOT NULL;
	END IF;
	-- a subject column whose type changed: refused unless it still names
	-- subjects alike (an error here undoes the ALTER TABLE)
	FOR r IN
		SELECT s.relid, s.subject_column, a.atttypid
		  FROM @extschema@.subject_table s
		  JOIN pg_catalog.pg_attribute a
		    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::oid
		   AND a.attname OPERATOR(pg_catalog.=) s.subject_column
		 WHERE a.atttypid OPERATOR(pg_catalog.<>) s.subject_type::oid
		   AND s.relid::oid IN (SELECT c.objid FROM pg_event_trigger_ddl_commands() c
		                         WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass)
	LOOP
		PERFORM @extschema@._check_subject_type(r.relid, r.atttypid, r.subject_column);
		UPDATE @extschema@.subject_table s SET subject_type = r.atttypid
		 WHERE s.relid OPERATOR(pg_catalog.=) r.relid;
	END LOOP;
END
$$;
CREATE EVENT TRIGGER personalize_ddl_end ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION @extschema@._on_ddl_end();

REVOKE ALL ON FUNCTION
	@extschema@.register_table(regclass, name),
	@extschema@.unregister_table(regclass),
	@extschema@.export_subject(text),
	@extschema@.forget(text),
	@extschema@.subject_pseudonym(text),
	@extschema@._check_subject_type(regclass, oid, text),
	@extschema@._renamed_column(regclass, name),
	@extschema@._on_sql_drop(),
	@extschema@._on_ddl_end()
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.subject_table', '');

-- sql/src/classify.sql: classification: SECURITY LABEL FOR personalize (src/classify.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- none < personal < sensitive < special
CREATE FUNCTION @extschema@._sensitivity_rank(sensitivity text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT array_position(ARRAY['none', 'personal', 'sensitive', 'special'], sensitivity)
$$;

-- Does a purpose allow a column of this category?  It names the category,
-- or an ancestor at least as sensitive; an unclassified column (NULL)
-- follows personalize.unclassified_columns.  The one rule of consent views.
CREATE FUNCTION @extschema@._column_allowed(purpose_id integer, category text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN _column_allowed.category IS NULL THEN
			coalesce(current_setting('personalize.unclassified_columns', true), 'hide') = 'show'
		ELSE EXISTS (
			SELECT 1
			  FROM @extschema@.purpose_category pc
			  JOIN @extschema@.data_category named ON named.name = pc.category
			  JOIN @extschema@.data_category col ON col.name = _column_allowed.category
			 WHERE pc.purpose_id = _column_allowed.purpose_id
			   AND (col.name = named.name OR starts_with(col.name, named.name || '.'))
			   AND @extschema@._sensitivity_rank(named.sensitivity)
			       >= @extschema@._sensitivity_rank(col.sensitivity))
	END
$$;

-- The label provider is registered when the library loads; this trigger
-- loads it before any SECURITY LABEL runs, in any session.
CREATE FUNCTION @extschema@._on_security_label() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'personalize_on_security_label'
	LANGUAGE C;
CREATE EVENT TRIGGER personalize_label_provider ON ddl_command_start
	WHEN TAG IN ('SECURITY LABEL')
	EXECUTE FUNCTION @extschema@._on_security_label();

CREATE FUNCTION @extschema@.classify(tbl regclass, col name, category text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL OR col IS NULL THEN
		RAISE EXCEPTION 'table and column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the same statement, checks and privileges as writing the label by hand
	EXECUTE format('SECURITY LABEL FOR personalize ON COLUMN %s.%I IS %L', tbl, col, category);
END
$$;
COMMENT ON FUNCTION @extschema@.classify(regclass, name, text) IS
	'classify a column with a data category (NULL removes the classification); same as SECURITY LABEL FOR personalize';

CREATE VIEW @extschema@.classified_columns AS
	SELECT c.oid::regclass AS table_name, a.attname AS column_name,
	       l.label AS category, d.sensitivity, d.demographic, d.proxy_for
	  FROM pg_catalog.pg_seclabel l
	  JOIN pg_catalog.pg_class c ON c.oid = l.objoid
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = l.objoid AND a.attnum = l.objsubid
	  LEFT JOIN @extschema@.data_category d ON d.name = l.label
	 WHERE l.provider = 'personalize'
	   AND l.classoid = 'pg_catalog.pg_class'::regclass
	   AND l.objsubid > 0;
COMMENT ON VIEW @extschema@.classified_columns IS
	'every classified column, with its category and sensitivity';

GRANT SELECT ON @extschema@.classified_columns TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@._column_allowed(integer, text),
	@extschema@._sensitivity_rank(text),
	@extschema@._on_security_label()
FROM PUBLIC;
-- classify() runs as its caller, whose privileges on the table decide.

-- sql/src/views.sql: consent-checked views (src/views.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.consent_view (
	view       regclass PRIMARY KEY,
	source     regclass NOT NULL,
	purpose_id integer NOT NULL REFERENCES @extschema@.purpose (purpose_id),
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by name NOT NULL
);
COMMENT ON TABLE @extschema@.consent_view IS
	'views made by create_consent_view(): their source table and purpose';

CREATE FUNCTION @extschema@._view_source_columns(view regclass)
RETURNS TABLE (view_column name, source_attnum smallint)
	AS 'MODULE_PATHNAME', 'personalize_view_source_columns'
	LANGUAGE C STABLE STRICT;

-- NULL if a consent view is still what create_consent_view() made of it,
-- else what changed (for review()).
CREATE FUNCTION @extschema@._consent_view_problem(view regclass, source regclass,
                                                  purpose text, subject_column name)
RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_consent_view_problem'
	LANGUAGE C STABLE STRICT;

CREATE FUNCTION @extschema@.create_consent_view(view_name text, source regclass, purpose text)
RETURNS regclass
	AS 'MODULE_PATHNAME', 'personalize_create_consent_view'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.create_consent_view(text, regclass, text) IS
	'a security-barrier view of a registered table: rows of subjects consenting to the purpose, columns the purpose needs';

CREATE FUNCTION @extschema@.drop_consent_view(view regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF view IS NULL THEN
		RAISE EXCEPTION 'view must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.consent_view v WHERE v.view = drop_consent_view.view) THEN
		RAISE EXCEPTION '"%" is not a consent view', view
			USING ERRCODE = 'wrong_object_type',
			      HINT = 'The consent views are listed in personalize.consent_views.';
	END IF;
	-- as the caller, who must own the view; the sql_drop trigger unregisters it
	EXECUTE format('DROP VIEW %s', view);
END
$$;
COMMENT ON FUNCTION @extschema@.drop_consent_view(regclass) IS
	'drop a consent view made by create_consent_view()';

CREATE VIEW @extschema@.consent_views AS
	SELECT v.view, v.source, p.name AS purpose,
	       ARRAY(SELECT s.view_column FROM @extschema@._view_source_columns(v.view) s) AS columns,
	       ARRAY(SELECT a.attname FROM pg_catalog.pg_attribute a
	              WHERE a.attrelid = v.source AND a.attnum > 0 AND NOT a.attisdropped
	                AND a.attnum NOT IN (SELECT s.source_attnum
	                                       FROM @extschema@._view_source_columns(v.view) s)
	              ORDER BY a.attnum) AS hidden_columns,
	       v.created_at, v.created_by
	  FROM @extschema@.consent_view v
	  JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consent_views IS
	'consent views, their purpose, the columns they show and the columns of the source they hide';

-- create_consent_view() and drop_consent_view() run as their caller, whose
-- privileges on the table decide; consent_views shows metadata, readable by
-- all (it calls _view_source_columns(), which stays executable by PUBLIC:
-- it reads a view's query tree, which pg_get_viewdef() shows anyway).
GRANT SELECT ON @extschema@.consent_view, @extschema@.consent_views TO PUBLIC;
REVOKE ALL ON FUNCTION
	@extschema@._consent_view_problem(regclass, regclass, text, name)
FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_view', '');

-- sql/src/match.sql: intent matching: the offer catalog and match() (src/match.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- The offer catalog.  Marketers edit these two tables directly (see README
-- "Security model" for the role); match() reads them into a per-backend
-- inverted index, rebuilt when match_catalog_version says they changed.
-- offer_id is compared bytewise (COLLATE "C"): ties in a ranking are broken
-- by offer_id in that order.  The columns match() reads come first.
CREATE TABLE @extschema@.offers (
	offer_id    text COLLATE "C" PRIMARY KEY
	            CONSTRAINT offers_offer_id_check CHECK (btrim(offer_id) <> ''),
	title       text NOT NULL
	            CONSTRAINT offers_title_check CHECK (btrim(title) <> ''),
	priority    integer NOT NULL DEFAULT 0,
	starts_at   timestamptz,
	ends_at     timestamptz,
	enabled     boolean NOT NULL DEFAULT true,
	description text,
	url         text,
	campaign    text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT offers_window_check CHECK (starts_at < ends_at)
);
COMMENT ON TABLE @extschema@.offers IS
	'offers match() can rank: shown only while enabled and within [starts_at, ends_at); priority orders the non-personalized list';

CREATE TABLE @extschema@.offer_tags (
	offer_id text COLLATE "C" NOT NULL
	         REFERENCES @extschema@.offers (offer_id) ON DELETE CASCADE ON UPDATE CASCADE,
	tag      text NOT NULL REFERENCES @extschema@.tag (tag),
	weight   real NOT NULL DEFAULT 1
	         -- NaN compares greater than Infinity, so this refuses NaN too
	         CONSTRAINT offer_tags_weight_check CHECK (weight > 0 AND weight < 'Infinity'),
	PRIMARY KEY (offer_id, tag)
);
CREATE INDEX offer_tags_tag_idx ON @extschema@.offer_tags (tag);
COMMENT ON TABLE @extschema@.offer_tags IS
	'the interest tags an offer carries, each with a positive weight; demographic, sensitive, special and proxy tags are refused';

-- One row whose version every change to offers, offer_tags, tag or
-- data_category increments, in the writer's transaction.  match() reads it
-- through its statement's snapshot and rebuilds its cache when the version
-- differs from the one the cache was built from: freshness is exact, with
-- no window between a commit and the invalidation message it sends.
CREATE TABLE @extschema@.match_catalog_version (
	-- src/names.h: match() reads it by name
	only_row   boolean DEFAULT true
	           CONSTRAINT match_catalog_version_pkey PRIMARY KEY
	           CONSTRAINT match_catalog_version_only_row CHECK (only_row),
	version    bigint NOT NULL,
	changed_at timestamptz NOT NULL
);
COMMENT ON TABLE @extschema@.match_catalog_version IS
	'incremented by every change to the offer catalog; match() rebuilds its per-backend cache when it differs';
INSERT INTO @extschema@.match_catalog_version VALUES (true, 1, now());

-- Make every backend drop its cached catalog at commit (src/match.c); the
-- version above is what makes the next match() exact.
CREATE FUNCTION @extschema@._match_invalidate() RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_match_invalidate'
	LANGUAGE C STRICT;

-- Statement triggers on the catalog: one version increment per statement.
-- SECURITY DEFINER so that a marketer who may edit offers needs no
-- privilege on the version table.  Concurrent catalog writers queue on the
-- version row until the first commits.
CREATE FUNCTION @extschema@._match_catalog_changed() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE @extschema@.match_catalog_version
	   SET version = version OPERATOR(pg_catalog.+) 1, changed_at = pg_catalog.now();
	PERFORM @extschema@._match_invalidate();
	RETURN NULL;
END
$$;
CREATE TRIGGER offers_match_catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.offers
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.offer_tags
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
-- tag descriptions are the words of match()'s reasons
CREATE TRIGGER tag_match_catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.tag
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
-- a category that becomes demographic, sensitive or a proxy takes its tags
-- out of every ranking
CREATE TRIGGER data_category_match_catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.data_category
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();

-- An offer can carry only tags define_tag() accepts.  define_tag() already
-- refuses demographic, sensitive, special and proxy categories; this
-- catches a tag row written behind its back.  One set-based check per
-- statement (transition table), so bulk loads stay fast.
CREATE FUNCTION @extschema@._offer_tags_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	bad record;
BEGIN
	SELECT n.offer_id, n.tag, c.name AS category,
	       CASE WHEN c.demographic THEN 'is demographic: it describes who customers are, not what they want'
	            WHEN c.sensitivity OPERATOR(pg_catalog.=) 'special' THEN 'is a special category of personal data'
	            WHEN c.sensitivity OPERATOR(pg_catalog.=) 'sensitive' THEN 'is sensitive personal data'
	            ELSE pg_catalog.format('is a proxy for "%s"', c.proxy_for) END AS why
	  INTO bad
	  FROM new_rows n
	  JOIN @extschema@.tag t ON t.tag OPERATOR(pg_catalog.=) n.tag
	  JOIN @extschema@.data_category c ON c.name OPERATOR(pg_catalog.=) t.category
	 WHERE c.demographic OR c.sensitivity OPERATOR(pg_catalog.=) ANY (ARRAY['sensitive', 'special'])
	    OR c.proxy_for IS NOT NULL
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'offer "%" cannot carry tag "%"', bad.offer_id, bad.tag
			USING ERRCODE = 'check_violation',
			      DETAIL = pg_catalog.format('The tag is in category "%s", which %s; offers are targeted by interests only.', bad.category, bad.why),
			      HINT = 'Tag offers with interests defined by define_tag() in "user.preference" or "user.behavior".';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER offer_tags_check_insert
	AFTER INSERT ON @extschema@.offer_tags
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._offer_tags_check();
CREATE TRIGGER offer_tags_check_update
	AFTER UPDATE ON @extschema@.offer_tags
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._offer_tags_check();

-- A purchase is a signal of kind "purchase" that also names the offer
-- bought: match() leaves offers the subject already bought out of their
-- rankings (unless asked not to).  record_purchase() records it on the
-- offer's main tag (its highest weight), so that it counts as behaviour on
-- what the offer is mostly about, not on every incidental tag.
COMMENT ON COLUMN @extschema@.signal.offer_id IS
	'the offer a purchase signal records (set by record_purchase), or NULL';

CREATE FUNCTION @extschema@.record_purchase(
	subject text,
	offer_id text,
	weight real DEFAULT 1,
	at timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	main_tag text;
BEGIN
	PERFORM @extschema@._subject_write(subject);
	PERFORM @extschema@._check_weight(weight, true);
	IF offer_id IS NULL THEN
		RAISE EXCEPTION 'offer must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM @extschema@.offers o
	                WHERE o.offer_id OPERATOR(pg_catalog.=) record_purchase.offer_id) THEN
		RAISE EXCEPTION 'offer "%" does not exist', offer_id
			USING ERRCODE = 'undefined_object';
	END IF;
	-- the offer's main tag: its highest weight, then its name
	SELECT t.tag INTO main_tag FROM @extschema@.offer_tags t
	 WHERE t.offer_id OPERATOR(pg_catalog.=) record_purchase.offer_id
	 ORDER BY t.weight DESC, t.tag
	 LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'offer "%" has no tags', offer_id
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = 'A purchase is recorded as behaviour on the main tag of the offer bought.',
			      HINT = 'Tag the offer in personalize.offer_tags first.';
	END IF;
	IF at IS NULL THEN
		RAISE EXCEPTION 'signal time must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF at OPERATOR(pg_catalog.>) (clock_timestamp() OPERATOR(pg_catalog.+) interval '5 minutes') THEN
		RAISE EXCEPTION 'signal time must not be in the future'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('The signal time is %s.', at);
	END IF;
	-- behaviour is only kept for subjects who agreed to personalization
	IF NOT @extschema@.has_consent(subject, 'personalization') THEN
		RETURN false;
	END IF;
	INSERT INTO @extschema@.signal (subject, tag, kind, weight, at, offer_id)
	VALUES (record_purchase.subject, main_tag, 'purchase', record_purchase.weight,
	        record_purchase.at, record_purchase.offer_id);
	RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.record_purchase(text, text, real, timestamptz) IS
	'record that the subject bought an offer: a purchase signal on its main tag; false (nothing kept) without consent to personalization';

CREATE FUNCTION @extschema@.match(
	subject text,
	k integer DEFAULT 10,
	per_tag_cap integer DEFAULT NULL,
	exclude_purchased boolean DEFAULT true)
RETURNS TABLE (offer_id text, score double precision, reasons text[])
	AS 'MODULE_PATHNAME', 'personalize_match'
	LANGUAGE C STABLE PARALLEL RESTRICTED
	ROWS 10;
COMMENT ON FUNCTION @extschema@.match(text, integer, integer, boolean) IS
	'the k offers that best match what the subject stated and did, with reasons; a non-personalized list without consent to personalization';

CREATE FUNCTION @extschema@.match_cache_info(
	OUT catalog_version bigint,
	OUT cache_version bigint,
	OUT fresh boolean,
	OUT kept boolean,
	OUT offers integer,
	OUT tags integer,
	OUT postings bigint,
	OUT memory_bytes bigint,
	OUT memory_limit_bytes bigint,
	OUT built_at timestamptz,
	OUT build_ms double precision,
	OUT builds bigint)
RETURNS record
	AS 'MODULE_PATHNAME', 'personalize_match_cache_info'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.match_cache_info() IS
	'this session''s cache of the offer catalog: version, size, memory, build time';

-- Answers counted by kind, server-wide when the library is preloaded.
CREATE FUNCTION @extschema@._match_stats(
	OUT personalized bigint,
	OUT not_personalized_no_consent bigint,
	OUT not_personalized_no_match bigint,
	OUT since timestamptz,
	OUT scope text)
RETURNS record
	AS 'MODULE_PATHNAME', 'personalize_match_stats'
	LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.model_card() RETURNS jsonb
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	stats record;
	cache record;
	answers bigint;
	refused jsonb;
BEGIN
	SELECT * INTO stats FROM @extschema@._match_stats();
	SELECT * INTO cache FROM @extschema@.match_cache_info();
	answers := stats.personalized + stats.not_personalized_no_consent + stats.not_personalized_no_match;
	SELECT coalesce(jsonb_agg(jsonb_build_object('category', c.name, 'why',
	           CASE WHEN c.demographic THEN 'demographic'
	                WHEN c.proxy_for IS NOT NULL THEN 'proxy for ' || c.proxy_for
	                ELSE c.sensitivity END) ORDER BY c.name), '[]')
	  INTO refused
	  FROM @extschema@.data_category c
	 WHERE c.demographic OR c.sensitivity IN ('sensitive', 'special') OR c.proxy_for IS NOT NULL;

	RETURN jsonb_build_object(
	'model_details', jsonb_build_object(
		'name', 'personalize.match',
		'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'personalize'),
		'type', 'transparent additive scoring of stated interests and decayed behaviour over an inverted index of the offer catalog; no training, no learned parameters',
		'scoring_rule', 'score(offer) = sum over tags t shared by the subject and the offer of (intent weight(t) + sum of signals on t, each weight * 2^(-age / signal_half_life)) * offer tag weight(t); only offers scoring above 0 are ranked, ties by offer_id',
		'exclusions', jsonb_build_array(
			'offers that are disabled, or outside [starts_at, ends_at) at the start of the statement',
			'offers carrying a tag the subject said to avoid (negative intent)',
			'offers the subject already bought (record_purchase), unless exclude_purchased => false'),
		'non_personalized_order', 'enabled offers within their window by priority DESC, then offer_id; used without consent to personalization, and when no offer scores above 0',
		'parameters', jsonb_build_object(
			'personalize.signal_half_life', current_setting('personalize.signal_half_life'),
			'personalize.match_cache_mem', current_setting('personalize.match_cache_mem'),
			'k', 'default 10, at most 10000',
			'per_tag_cap', 'default none: at most this many offers with the same main reason',
			'exclude_purchased', 'default true'),
		'reasons', 'each row names its contributing tags, largest contribution first, in words from the tag description'),
	'intended_use', jsonb_build_object(
		'primary_uses', jsonb_build_array(
			'choose which offers to show a customer in a shop, an email or an app, from interests the customer stated and behaviour the customer agreed to have used'),
		'primary_users', jsonb_build_array('the shop''s application, through a role granted EXECUTE on match()'),
		'out_of_scope_uses', jsonb_build_array(
			'decisions with legal or similarly significant effects: credit, insurance, employment, housing, prices',
			'inferring who a customer is (age, gender, ethnicity, health, beliefs) from their interests',
			'ranking customers for an offer, or excluding customers from offers',
			'personalizing for subjects without consent to personalization')),
	'factors', jsonb_build_object(
		'relevant_factors', jsonb_build_array(
			'stated interests and avoidances (personalize.intent)',
			'behaviour signals (personalize.signal), only for subjects with consent',
			'the catalog: which offers carry which tags, with which weights'),
		'evaluation_factors', jsonb_build_array(
			'groups of a classified sensitive or special column (gender, age, ethnicity ...) or of a proxy (postal code), used by match_exposure() for auditing only')),
	'inputs', jsonb_build_object(
		'used', jsonb_build_array('intent (subject, tag, weight)', 'signal (subject, tag, kind, weight, at, offer_id)',
		                          'consent to the purpose personalization', 'offers and offer_tags', 'tag descriptions'),
		'refused', jsonb_build_object(
			'rule', 'match() takes no customer attributes at all: only the subject key; a tag in a demographic, sensitive, special or proxy category can neither be defined nor carried by an offer, and is ignored by match() if one exists',
			'categories', refused)),
	'metrics', jsonb_build_object(
		'performance_measures', jsonb_build_array(
			'exactness: the top k equals a reference SQL implementation of the rule (regression test and make bench)',
			'latency p50/p95 (make bench)',
			'exposure by group and the 80% rule (match_exposure)'),
		'live', jsonb_build_object(
			'offers', (SELECT count(*) FROM @extschema@.offers),
			'active_offers', (SELECT count(*) FROM @extschema@.offers o
			                   WHERE o.enabled AND (o.starts_at IS NULL OR o.starts_at <= statement_timestamp())
			                     AND (o.ends_at IS NULL OR o.ends_at > statement_timestamp())),
			'tags', (SELECT count(*) FROM @extschema@.tag),
			'tags_on_offers', (SELECT count(DISTINCT t.tag) FROM @extschema@.offer_tags t),
			'subjects_with_intents', (SELECT count(DISTINCT i.subject) FROM @extschema@.intent i),
			'subjects_consenting', (SELECT count(*) FROM @extschema@.consent c
			                         JOIN @extschema@.purpose p USING (purpose_id)
			                        WHERE p.name = 'personalization' AND c.state = 'g'
			                          AND (c.expires_at IS NULL OR c.expires_at > statement_timestamp())),
			'answers', jsonb_build_object(
				'personalized', stats.personalized,
				'not_personalized_no_consent', stats.not_personalized_no_consent,
				'not_personalized_no_match', stats.not_personalized_no_match,
				'share_personalized', CASE WHEN answers > 0
				                           THEN round(stats.personalized::numeric / answers, 4) END,
				'since', stats.since,
				'scope', stats.scope),
			'catalog_cache', jsonb_build_object(
				'catalog_version', cache.catalog_version, 'cached_version', cache.cache_version,
				'memory_bytes', cache.memory_bytes, 'memory_limit_bytes', cache.memory_limit_bytes,
				'build_ms', cache.build_ms, 'scope', 'this session'))),
	'training_data', 'none: the rule has no learned parameters; it reads the catalog and the subject''s own intents and signals at call time',
	'evaluation_data', 'the regression tests (test/sql/match.sql) and the benchmark (test/bench/match.sh) check the ranking against SQL implementations of the same rule',
	'quantitative_analyses', jsonb_build_object(
		'function', 'personalize.match_exposure(tbl regclass, group_column name, k integer DEFAULT 10)',
		'measure', 'for each offer and each group of a classified sensitive column: the share of the group''s subjects shown the offer in their top k',
		'disparate_impact', 'flagged when a group''s share is below 80% of the most exposed group''s share (the four-fifths rule)',
		'note', 'the group column is read by the audit only; match() never sees it'),
	'ethical_considerations', jsonb_build_array(
		'targets what customers said they want, not who they are: demographic attributes and their proxies cannot be inputs',
		'without consent to personalization the subject''s intents and signals are not read at all; everyone without consent gets the same list',
		'an avoided tag removes every offer carrying it, whatever its score',
		'interests can still correlate with protected attributes; audit exposure with match_exposure() and review tags whose exposure differs by group',
		'every answer carries its reasons, in words a customer can read'),
	'caveats_and_recommendations', jsonb_build_array(
		'the ranking is only as good as the catalog''s tags and weights: review them like any marketing copy',
		'without consent the non-personalized order (priority, then offer_id) is the same for everyone; keep priorities meaningful',
		'the 80% rule is a screening heuristic, not proof of fairness or unfairness; small groups give noisy shares',
		'the answer counters are per server since the library was loaded (preloaded) or per session (not preloaded)',
		'a catalog larger than personalize.match_cache_mem is rebuilt for every call: raise the setting'));
END
$$;
COMMENT ON FUNCTION @extschema@.model_card() IS
	'a model card (Mitchell et al. 2019) of match(): details, intended use, factors, inputs used and refused, live metrics, analyses, ethics, caveats';

-- The subject column of a registered table, for match_exposure(), which
-- runs as its caller (who may not read the registry).  It tells which
-- column of a table is the subject key, nothing about any subject:
-- executable by PUBLIC, like _view_source_columns().
CREATE FUNCTION @extschema@._match_subject_column(tbl regclass) RETURNS name
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.subject_column FROM @extschema@.subject_table s
	 WHERE s.relid OPERATOR(pg_catalog.=) tbl
$$;

-- Exposure audit.  Runs as the caller, who needs SELECT on the table and
-- EXECUTE on match(); the group column must be classified as sensitive,
-- special, demographic or a proxy, and is read here only.
CREATE FUNCTION @extschema@.match_exposure(
	tbl regclass,
	group_column name,
	k integer DEFAULT 10)
RETURNS TABLE (offer_id text, group_value text, subjects bigint, shown bigint,
               exposure double precision, impact_ratio double precision,
               disparate_impact boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	subject_col name;
	col record;
BEGIN
	IF tbl IS NULL OR group_column IS NULL OR k IS NULL THEN
		RAISE EXCEPTION 'table, group column and k must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	subject_col := @extschema@._match_subject_column(tbl);
	IF subject_col IS NULL THEN
		RAISE EXCEPTION 'table % is not a registered subject table', tbl
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Register it with personalize.register_table(), naming its subject column.';
	END IF;
	PERFORM 1 FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) group_column
	   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', group_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	SELECT c.category, c.sensitivity, c.demographic, c.proxy_for INTO col
	  FROM @extschema@.classified_columns c
	 WHERE c.table_name OPERATOR(pg_catalog.=) tbl AND c.column_name OPERATOR(pg_catalog.=) group_column;
	IF NOT FOUND OR NOT (col.sensitivity IN ('sensitive', 'special') OR col.demographic
	                     OR col.proxy_for IS NOT NULL) THEN
		RAISE EXCEPTION 'column "%" of % is not classified as sensitive', group_column, tbl
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = CASE WHEN NOT FOUND THEN 'The column has no data category.'
			                    ELSE format('Its category "%s" is %s.', col.category, coalesce(col.sensitivity, 'unknown')) END,
			      HINT = 'Exposure is audited by groups of a sensitive, special, demographic or proxy column; classify it with SECURITY LABEL FOR personalize.';
	END IF;
	IF k OPERATOR(pg_catalog.<) 1 OR k OPERATOR(pg_catalog.>) 10000 THEN
		RAISE EXCEPTION 'k must be between 1 and 10000'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	RETURN QUERY EXECUTE format($q$
		WITH s AS (
			-- output functions, not casts: a cast on the column's type would
			-- be code of its owner, run as the auditor
			SELECT pg_catalog.format('%%s', t.%1$I) AS subject,
			       CASE WHEN t.%2$I IS NULL THEN '(null)' ELSE pg_catalog.format('%%s', t.%2$I) END AS grp
			  FROM %3$s t
			 WHERE t.%1$I IS NOT NULL),
		g AS (SELECT s.grp, count(*) AS n FROM s GROUP BY s.grp),
		hits AS (
			SELECT s.grp, m.offer_id, count(*) AS c
			  FROM s CROSS JOIN LATERAL @extschema@.match(s.subject, $1) m
			 GROUP BY s.grp, m.offer_id),
		grid AS (
			SELECT o.offer_id, g.grp, g.n, coalesce(h.c, 0) AS c,
			       coalesce(h.c, 0)::float8 / g.n AS rate
			  FROM (SELECT DISTINCT h.offer_id FROM hits h) o
			 CROSS JOIN g
			  LEFT JOIN hits h ON h.offer_id = o.offer_id AND h.grp = g.grp)
		SELECT grid.offer_id, grid.grp, grid.n, grid.c, grid.rate,
		       grid.rate / max(grid.rate) OVER w,
		       grid.rate / max(grid.rate) OVER w < 0.8
		  FROM grid
		WINDOW w AS (PARTITION BY grid.offer_id)
		 ORDER BY grid.offer_id COLLATE "C", grid.grp COLLATE "C"$q$,
		subject_col, group_column, tbl)
	USING k;
END
$$;
COMMENT ON FUNCTION @extschema@.match_exposure(regclass, name, integer) IS
	'audit: how often each group of a sensitive column is shown each offer by match(), flagging disparate impact (80% rule)';

REVOKE ALL ON FUNCTION
	@extschema@._match_invalidate(),
	@extschema@._match_catalog_changed(),
	@extschema@._offer_tags_check(),
	@extschema@._match_stats(),
	@extschema@.record_purchase(text, text, real, timestamptz),
	@extschema@.match(text, integer, integer, boolean),
	@extschema@.match_exposure(regclass, name, integer)
FROM PUBLIC;
-- model_card() and match_cache_info() describe the model and the catalog,
-- nothing about any subject: executable by PUBLIC.

SELECT pg_catalog.pg_extension_config_dump('@extschema@.offers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.offer_tags', '');

-- sql/src/proxies.sql: proxy detection
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Values never become SQL text: the bins' bounds are parameters, and
-- columns reach text through their output function (format('%s')), never
-- through a cast, which the owner of the column's type could have defined.
CREATE FUNCTION @extschema@.detect_proxies(
	tbl regclass,
	sensitive_column name,
	threshold double precision DEFAULT 0.5)
RETURNS TABLE (column_name name, association double precision, categories bigint, method text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	col record;
	names name[] := '{}';
	methods text[] := '{}';
	exprs text[] := '{}';
	ranges float8[];
	q text;
	values_list text := '';
	r record;
	phi2 float8;
	kc float8;
	rc float8;
	skipped text[] := '{}';
BEGIN
	IF tbl IS NULL OR sensitive_column IS NULL THEN
		RAISE EXCEPTION 'table and sensitive column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
		RAISE EXCEPTION 'threshold must be between 0 and 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM 1 FROM pg_attribute a
	 WHERE a.attrelid = tbl AND a.attname = sensitive_column AND a.attnum > 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation "%" does not exist', sensitive_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;

	-- every other column becomes a category: numbers and times in 10
	-- equal-width bins between their minimum and maximum, the rest as text
	FOR col IN
		SELECT a.attname, a.atttypid::regtype AS typ
		  FROM pg_attribute a
		 WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attname <> sensitive_column
		   AND a.atttypid NOT IN ('bytea'::regtype, 'json'::regtype, 'jsonb'::regtype, 'xml'::regtype)
		 ORDER BY a.attnum
	LOOP
		names := names || col.attname;
		IF col.typ IN ('smallint', 'integer', 'bigint', 'real', 'double precision') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('t.%I::pg_catalog.float8', col.attname);
		ELSIF col.typ = 'numeric'::regtype THEN
			-- beyond float8's range: the infinities
			methods := methods || 'binned'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I = 'NaN' THEN 'NaN'::pg_catalog.float8
			                                 WHEN t.%1$I > 1e308 THEN 'Infinity'::pg_catalog.float8
			                                 WHEN t.%1$I < -1e308 THEN '-Infinity'::pg_catalog.float8
			                                 ELSE t.%1$I::pg_catalog.float8 END$e$, col.attname);
		ELSIF col.typ IN ('date', 'timestamp without time zone', 'timestamp with time zone') THEN
			methods := methods || 'binned'::text;
			exprs := exprs || format('extract(epoch FROM t.%I)::pg_catalog.float8', col.attname);
		ELSE
			methods := methods || 'categorical'::text;
			exprs := exprs || format($e$CASE WHEN t.%1$I IS NOT NULL THEN pg_catalog.format('%%s', t.%1$I) END$e$,
			                         col.attname);
		END IF;
	END LOOP;
	IF cardinality(names) = 0 THEN
		RETURN;
	END IF;

	-- the range of the finite values of every binned column, in one pass
	SELECT string_agg(format($e$min(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity'),
	                            max(%1$s) FILTER (WHERE %1$s > '-Infinity' AND %1$s < 'Infinity')$e$, e),
	                  ', ' ORDER BY i)
	  INTO q FROM unnest(exprs, methods) WITH ORDINALITY AS u(e, m, i) WHERE m = 'binned';
	IF q IS NOT NULL THEN
		EXECUTE format('SELECT ARRAY[%s]::pg_catalog.float8[] FROM %s t', q, tbl) INTO ranges;
	END IF;

	-- one key per column and row; the bins of the j-th binned column lie
	-- between $1[2j-1] and $1[2j], nudged up so that the maximum falls in
	-- the last bin; NaN and the infinities are bins of their own
	FOR i IN 1 .. cardinality(names) LOOP
		IF methods[i] = 'binned' THEN
			DECLARE
				j integer := (SELECT count(*) FROM unnest(methods[1:i]) m WHERE m = 'binned');
				lo float8 := ranges[2 * j - 1];
				hi float8 := ranges[2 * j];
			BEGIN
				IF lo < hi THEN
					BEGIN
						ranges[2 * j] := hi + (hi - lo) * 1e-9;
					EXCEPTION WHEN numeric_value_out_of_range THEN
						NULL;	-- the range spans all of float8: no nudge
					END;
				END IF;
				values_list := values_list || format(
					$e$, (%1$s, CASE WHEN %2$s IS NULL THEN '<null>'
					                 WHEN %2$s = 'NaN' THEN 'NaN'
					                 WHEN %2$s = 'Infinity' THEN 'Infinity'
					                 WHEN %2$s = '-Infinity' THEN '-Infinity'
					                 WHEN NOT coalesce($1[%3$s] < $1[%4$s], false) THEN '1'
					                 ELSE LEAST(pg_catalog.width_bucket(%2$s, $1[%3$s], $1[%4$s], 10), 10)::pg_catalog.text
					            END)$e$,
					i, exprs[i], 2 * j - 1, 2 * j);
			END;
		ELSE
			values_list := values_list || format(', (%s, coalesce(%s, %L))', i, exprs[i], '<null>');
		END IF;
	END LOOP;

	-- every contingency table in one scan; chi-square as n * (sum o^2/(row*col) - 1)
	q := format($q$
		WITH cells AS (
			SELECT u.i, u.k, pg_catalog.format('%%s', t.%1$I) AS s, count(*)::float8 AS o
			  FROM %2$s t CROSS JOIN LATERAL (VALUES %3$s) AS u(i, k)
			 WHERE t.%1$I IS NOT NULL
			 GROUP BY 1, 2, 3),
		rowt AS (SELECT i, k, sum(o) AS t FROM cells GROUP BY 1, 2),
		colt AS (SELECT i, s, sum(o) AS t FROM cells GROUP BY 1, 2),
		tot AS (SELECT i, sum(o) AS n FROM cells GROUP BY 1)
		SELECT c.i, tot.n,
		       tot.n * (sum(c.o * c.o / (rowt.t * colt.t)) - 1) AS chi2,
		       (SELECT count(*) FROM rowt x WHERE x.i = c.i) AS kc,
		       (SELECT count(*) FROM colt x WHERE x.i = c.i) AS rc
		  FROM cells c
		  JOIN rowt USING (i, k)
		  JOIN colt USING (i, s)
		  JOIN tot USING (i)
		 GROUP BY c.i, tot.n
		 ORDER BY c.i$q$, sensitive_column, tbl, substr(values_list, 3));

	FOR r IN EXECUTE q USING ranges LOOP
		-- a column with nearly a value per row identifies rows: its
		-- association says nothing about proxying
		IF methods[r.i] = 'categorical' AND (r.kc > 1000 OR r.kc > r.n / 2) THEN
			skipped := skipped || names[r.i]::text;
			CONTINUE;
		END IF;
		-- Cramer's V with the bias correction of Bergsma (2013)
		phi2 := greatest(0, r.chi2 / r.n - (r.kc - 1) * (r.rc - 1) / greatest(r.n - 1, 1));
		kc := r.kc - (r.kc - 1) ^ 2 / greatest(r.n - 1, 1);
		rc := r.rc - (r.rc - 1) ^ 2 / greatest(r.n - 1, 1);
		column_name := names[r.i];
		association := CASE WHEN least(kc, rc) > 1 THEN sqrt(phi2 / (least(kc, rc) - 1)) ELSE 0 END;
		categories := r.kc;
		method := methods[r.i];
		IF association >= threshold THEN
			RETURN NEXT;
		END IF;
	END LOOP;
	IF cardinality(skipped) > 0 THEN
		RAISE NOTICE 'skipped columns with about one value per row: %', array_to_string(skipped, ', ')
			USING HINT = 'An identifier predicts every attribute of its own row; proxies are columns many rows share.';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.detect_proxies(regclass, name, double precision) IS
	'columns whose values predict a sensitive column (bias-corrected Cramer''s V at or above threshold)';

--------------------------------------------------------------------------

-- detect_proxies() runs as its caller, whose privileges on the table decide.

-- sql/src/retention.sql: retention rules, purging, the purge log, maintenance
-- and the background worker (src/retention.c, src/maintenance.c, src/worker.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

CREATE TABLE @extschema@.retention_rule (
	relid        regclass PRIMARY KEY,
	time_column  name NOT NULL,
	keep         interval NOT NULL CHECK (keep > interval '0'),
	condition    text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	created_by   name NOT NULL,
	last_run_at  timestamptz,
	last_outcome text CHECK (last_outcome IN ('ok', 'failed', 'interrupted')),
	last_rows    bigint,
	last_error   text
);
COMMENT ON TABLE @extschema@.retention_rule IS
	'how long each table keeps its rows: older rows (matching the condition) are purged';

-- One row per run that deleted rows or failed: counts, never the data.
CREATE TABLE @extschema@.purge_run (
	run_id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	relid              regclass NOT NULL,
	started_at         timestamptz NOT NULL,
	finished_at        timestamptz,
	rows_deleted       bigint NOT NULL DEFAULT 0,
	batches            integer NOT NULL DEFAULT 0,
	partitions_dropped integer NOT NULL DEFAULT 0,
	max_batch_ms       double precision,
	outcome            text NOT NULL
	                   CHECK (outcome IN ('running', 'ok', 'failed', 'interrupted')),
	error              text,
	started_by         text NOT NULL,
	backend_pid        integer NOT NULL,
	backend_start      timestamptz NOT NULL
);
CREATE INDEX purge_run_relid_idx ON @extschema@.purge_run (relid, started_at);
COMMENT ON TABLE @extschema@.purge_run IS
	'purge runs that deleted rows or failed; trimmed after personalize.purge_log_keep';

-- An error message can quote the data of the row that failed: it is shown
-- to the table's owner (members of the owner role) and superusers only.
CREATE VIEW @extschema@.purge_log AS
	SELECT r.run_id, r.relid AS table_name, r.started_at, r.finished_at, r.rows_deleted,
	       r.batches, r.partitions_dropped, r.max_batch_ms, r.outcome,
	       CASE WHEN c.oid IS NULL OR pg_catalog.pg_has_role(c.relowner, 'USAGE')
	            THEN r.error END AS error,
	       r.started_by
	  FROM @extschema@.purge_run r
	  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.relid::pg_catalog.oid;
COMMENT ON VIEW @extschema@.purge_log IS
	'one row per purge run that deleted rows or failed, newest last';

CREATE FUNCTION @extschema@.set_retention(
	tbl regclass,
	time_column name,
	keep interval,
	condition text DEFAULT NULL)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_set_retention'
	LANGUAGE C CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.set_retention(regclass, name, interval, text) IS
	'purge the table''s rows once time_column is older than keep (and the condition holds); at most personalize.max_retention';

CREATE FUNCTION @extschema@.drop_retention(tbl regclass)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_drop_retention'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.drop_retention(regclass) IS
	'remove the table''s retention rule';

CREATE FUNCTION @extschema@.purge(tbl regclass DEFAULT NULL)
RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_purge'
	LANGUAGE C CALLED ON NULL INPUT;
COMMENT ON FUNCTION @extschema@.purge(regclass) IS
	'purge now, in this transaction, the table (or every table with a rule); returns the rows deleted';

CREATE PROCEDURE @extschema@.run_purge(tbl regclass DEFAULT NULL)
	AS 'MODULE_PATHNAME', 'personalize_run_purge'
	LANGUAGE C;
COMMENT ON PROCEDURE @extschema@.run_purge(regclass) IS
	'purge now, committing each batch as the background worker does (CALL it outside a transaction block)';

-- Consents past their expiry become "expired", in state and in history.
CREATE FUNCTION @extschema@._expire_consents() RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	WITH expired AS (
		SELECT c.subject, c.purpose_id, c.expires_at
		  FROM @extschema@.consent c
		 WHERE c.state = 'g' AND c.expires_at <= now()
		   FOR UPDATE),
	events AS (
		INSERT INTO @extschema@.consent_event (subject, purpose_id, action, expires_at, source)
		SELECT e.subject, e.purpose_id, 'expire', e.expires_at, 'run_maintenance'
		  FROM expired e
		RETURNING event_id, subject, purpose_id)
	UPDATE @extschema@.consent c
	   SET state = 'e', updated_at = now(), event_id = ev.event_id
	  FROM events ev
	 WHERE c.subject = ev.subject AND c.purpose_id = ev.purpose_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- Keep the purge log bounded.
CREATE FUNCTION @extschema@._trim_purge_log() RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	DELETE FROM @extschema@.purge_run r
	 WHERE r.outcome <> 'running'
	   AND r.finished_at < now() - current_setting('personalize.purge_log_keep')::interval;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The duties of a maintenance pass, in order: run_maintenance() and the
-- background worker both run exactly these (the list is in
-- src/maintenance.c; 'purge' is the retention purge, which the worker runs
-- batch by batch, committing each).
CREATE FUNCTION @extschema@._maintenance_duties()
RETURNS TABLE (duty text, "position" integer, description text)
	AS 'MODULE_PATHNAME', 'personalize_maintenance_duties'
	LANGUAGE C IMMUTABLE;
CREATE VIEW @extschema@.maintenance_duty AS
	SELECT d.duty, d."position", d.description FROM @extschema@._maintenance_duties() d;
COMMENT ON VIEW @extschema@.maintenance_duty IS
	'what each maintenance pass does, in order (run_maintenance() and the background worker)';

CREATE FUNCTION @extschema@.run_maintenance()
RETURNS TABLE (duty text, affected bigint)
	AS 'MODULE_PATHNAME', 'personalize_run_maintenance'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.run_maintenance() IS
	'one maintenance pass, as the background worker makes it: the duties of personalize.maintenance_duty, in order';

CREATE VIEW @extschema@.retention_rules AS
	SELECT r.relid AS table_name, r.time_column, r.keep, r.condition,
	       r.last_run_at,
	       CASE WHEN r.last_run_at IS NULL THEN now()
	            ELSE r.last_run_at + coalesce(current_setting('personalize.naptime', true), '60s')::interval
	       END AS next_due,
	       r.last_outcome, r.last_rows,
	       -- see purge_log: only for the table's owner and superusers
	       CASE WHEN c.oid IS NULL OR pg_catalog.pg_has_role(c.relowner, 'USAGE')
	            THEN r.last_error END AS last_error,
	       r.created_at, r.created_by
	  FROM @extschema@.retention_rule r
	  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.relid::pg_catalog.oid;
COMMENT ON VIEW @extschema@.retention_rules IS
	'retention rules with their last run and when the worker runs them next';

-- CREATE EXTENSION tells the background worker, if one runs, that this
-- database now needs a scheduler.
CREATE FUNCTION @extschema@._worker_notify() RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_worker_notify'
	LANGUAGE C;
CREATE FUNCTION @extschema@.worker_status()
RETURNS TABLE (database name, pid integer, state text, last_cycle timestamptz)
	AS 'MODULE_PATHNAME', 'personalize_worker_status'
	LANGUAGE C;
COMMENT ON FUNCTION @extschema@.worker_status() IS
	'the background worker''s schedulers, one per database (empty without shared_preload_libraries)';

REVOKE ALL ON FUNCTION
	@extschema@.set_retention(regclass, name, interval, text),
	@extschema@.drop_retention(regclass),
	@extschema@.purge(regclass),
	@extschema@.run_maintenance(),
	@extschema@._expire_consents(),
	@extschema@._trim_purge_log(),
	@extschema@._worker_notify()
FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.run_purge(regclass) FROM PUBLIC;
-- _maintenance_duties() stays executable by PUBLIC: the view needs it, and
-- it tells nothing about any subject.
GRANT SELECT ON @extschema@.retention_rules, @extschema@.maintenance_duty TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.retention_rule', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purge_run', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purge_run_run_id_seq', '');

-- sql/src/access.sql: least privilege: protected tables, time-limited
-- access grants, requests with separation of duties, the access ledger
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.  0.2.0.  The rules are in src/access.c.

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

-- sql/src/ledgers.sql: hash-chained ledgers, verify_ledgers(), ledger_digest()
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.
--
-- Four ledgers may only grow: consent history (consent_event), the access
-- ledger (access_event), the custody log (custody_event, partners.sql) and
-- the purge ledger (purge_event).  Each is a hash chain: a BEFORE INSERT
-- trigger (src/ledger.c) gives every entry its position chain_seq, the hash
-- of the entry before it and its own hash, under a lock that keeps the
-- chain linear with concurrent writers.  verify_ledgers() walks the chains.

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

-- sql/src/partners.sql: partners, share(), the custody log, recipients(),
-- and the record of processing
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.
--
-- A partner is registered with its governance agreement: the purposes it
-- may use data for, the data categories it may receive, and when the
-- agreement ends.  Data leaves through share() only (src/partner.c): rows
-- of subjects whose data may be used for one of the partner's purposes,
-- columns the agreement covers, and a custody record for every call.

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
-- restore; see src/classify.c).
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

-- DDL review (src/classify.c): the columns a command added, the effective
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

-- sql/src/upgrades.sql: what the upgrade scripts need beyond SQL
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- An upgrade that changes a function's parameters drops and creates it;
-- this gives the new function the privileges the DBA changed on the old
-- one, so that pg_dump still dumps them (src/upgrade.c).  Only an
-- extension script may call it.
CREATE FUNCTION @extschema@._carry_function_privileges(old regprocedure, new regprocedure)
RETURNS integer
	AS 'MODULE_PATHNAME', 'personalize_carry_function_privileges'
	LANGUAGE C;
REVOKE ALL ON FUNCTION @extschema@._carry_function_privileges(regprocedure, regprocedure) FROM PUBLIC;

-- sql/src/footer.sql: the end of the install script
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- Load the library now: it registers the "personalize" label provider,
-- which a restore needs for the SECURITY LABEL commands that follow
-- CREATE EXTENSION, even where it is not preloaded (a restore creates C
-- functions without loading their library).
LOAD 'MODULE_PATHNAME';

-- Tell the background worker, if it runs, that this database needs a
-- scheduler (a no-op without shared_preload_libraries).
SELECT @extschema@._worker_notify();
