/* personalize--0.1.0.sql: install script of the personalize extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION personalize" to load this file. \quit

--------------------------------------------------------------------------
-- monthday: a day of the year without a year (birthdays need no year)
--------------------------------------------------------------------------

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

--------------------------------------------------------------------------
-- Data categories: the taxonomy every classification refers to
--------------------------------------------------------------------------

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

CREATE TABLE @extschema@.data_category (
	name        text PRIMARY KEY
	            CONSTRAINT data_category_name_check
	            CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
	sensitivity text NOT NULL
	            CONSTRAINT data_category_sensitivity_check
	            CHECK (sensitivity IN ('none', 'personal', 'sensitive', 'special')),
	demographic boolean NOT NULL DEFAULT false,
	proxy_for   text REFERENCES @extschema@.data_category (name),
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

--------------------------------------------------------------------------
-- Purposes: what data is used for, and what the customer gets in return
--------------------------------------------------------------------------

CREATE TABLE @extschema@.purpose (
	purpose_id     integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name           text NOT NULL UNIQUE
	               CONSTRAINT purpose_name_check
	               CHECK (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
	description    text NOT NULL,
	value_exchange text NOT NULL
	               CONSTRAINT purpose_value_exchange_check
	               CHECK (btrim(value_exchange) <> ''),
	parent_id      integer REFERENCES @extschema@.purpose (purpose_id),
	builtin        boolean NOT NULL DEFAULT false,
	created_at     timestamptz NOT NULL DEFAULT now()
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

-- A purpose hierarchy must stay a tree, however it is edited.
CREATE FUNCTION @extschema@._purpose_check_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cur integer := NEW.parent_id;
	steps integer := 0;
BEGIN
	WHILE cur IS NOT NULL LOOP
		IF cur OPERATOR(pg_catalog.=) NEW.purpose_id THEN
			RAISE EXCEPTION 'purpose "%" cannot be its own ancestor', NEW.name
				USING ERRCODE = 'invalid_recursion',
				      HINT = 'Purposes form a tree: choose a parent that is not below this purpose.';
		END IF;
		SELECT p.parent_id INTO cur FROM @extschema@.purpose p
		 WHERE p.purpose_id OPERATOR(pg_catalog.=) cur;
		steps := steps OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RETURN NEW;
END
$$;
CREATE TRIGGER purpose_no_cycle
	BEFORE INSERT OR UPDATE OF parent_id ON @extschema@.purpose
	FOR EACH ROW EXECUTE FUNCTION @extschema@._purpose_check_cycle();

--------------------------------------------------------------------------
-- Consent: current state and an append-only history
--------------------------------------------------------------------------

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
	PRIMARY KEY (subject, purpose_id)
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
	       c.source, c.updated_at, c.expires_at
	  FROM @extschema@.consent c
	  JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consents IS
	'current consent per subject and purpose (status granted, withdrawn or expired)';

CREATE VIEW @extschema@.consent_history AS
	SELECT e.event_id, e.subject, p.name AS purpose, e.action, e.source,
	       e.expires_at, e.occurred_at, e.recorded_by
	  FROM @extschema@.consent_event e
	  LEFT JOIN @extschema@.purpose p USING (purpose_id);
COMMENT ON VIEW @extschema@.consent_history IS
	'every consent event, oldest first by event_id; append-only';

--------------------------------------------------------------------------
-- Explicit intent and behaviour
--------------------------------------------------------------------------

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
	PRIMARY KEY (subject, tag)
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
	at        timestamptz NOT NULL
);
CREATE INDEX signal_subject_idx ON @extschema@.signal (subject, tag);
COMMENT ON TABLE @extschema@.signal IS
	'behaviour signals (view, click, purchase ...) of consenting customers';

--------------------------------------------------------------------------
-- Tables that hold subject data
--------------------------------------------------------------------------

CREATE TABLE @extschema@.subject_table (
	relid          regclass PRIMARY KEY,
	subject_column name NOT NULL,
	registered_at  timestamptz NOT NULL DEFAULT now(),
	registered_by  name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE @extschema@.subject_table IS
	'registered tables holding subject data, and the column naming the subject';

--------------------------------------------------------------------------
-- Internal helpers
--------------------------------------------------------------------------

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
	RAISE EXCEPTION 'data category "%" does not exist', category
		USING ERRCODE = 'undefined_object',
		      HINT = format('Closest known categories: %s. Add one with define_category().',
		                    @extschema@._closest_categories(category));
END
$$;

-- The purpose_id of a purpose name, or an error naming the known purposes.
CREATE FUNCTION @extschema@._purpose_id(purpose text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id integer;
BEGIN
	IF purpose IS NULL THEN
		RAISE EXCEPTION 'purpose must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT p.purpose_id INTO id FROM @extschema@.purpose p
	 WHERE p.name OPERATOR(pg_catalog.=) purpose;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'purpose "%" does not exist', purpose
			USING ERRCODE = 'undefined_object',
			      HINT = format('Known purposes: %s. Define one with define_purpose().',
			                    (SELECT string_agg(p.name, ', ' ORDER BY p.name)
			                       FROM @extschema@.purpose p));
	END IF;
	RETURN id;
END
$$;

-- A subject key must be a non-empty string.
CREATE FUNCTION @extschema@._check_subject(subject text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF subject IS NULL THEN
		RAISE EXCEPTION 'subject must not be null'
			USING ERRCODE = 'null_value_not_allowed',
			      HINT = 'Pass the key that identifies the customer, as text.';
	ELSIF btrim(subject) OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'subject must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Pass the key that identifies the customer, as text.';
	END IF;
END
$$;

--------------------------------------------------------------------------
-- Categories and purposes
--------------------------------------------------------------------------

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
	IF sensitivity IS NULL OR NOT sensitivity OPERATOR(pg_catalog.=) ANY (levels) THEN
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
	 WHERE define_category.name LIKE c.name OPERATOR(pg_catalog.||) '.%'
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

CREATE FUNCTION @extschema@.define_purpose(
	name text,
	description text,
	value_exchange text,
	categories text[] DEFAULT '{}',
	parent text DEFAULT NULL)
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

	INSERT INTO @extschema@.purpose (name, description, value_exchange, parent_id)
	VALUES (name, description, value_exchange, parent_id)
	RETURNING purpose_id INTO new_id;
	INSERT INTO @extschema@.purpose_category (purpose_id, category)
	SELECT DISTINCT new_id, c FROM unnest(categories) c;
END
$$;
COMMENT ON FUNCTION @extschema@.define_purpose(text, text, text, text[], text) IS
	'define a purpose, the value the customer gets for it, and the data categories it needs';

INSERT INTO @extschema@.purpose (name, description, value_exchange, builtin) VALUES
	('personalization',
	 'choosing offers and content from the interests a customer states and from their behaviour in our shop',
	 'offers and content that match what you told us you like, instead of generic ones',
	 true);
INSERT INTO @extschema@.purpose_category (purpose_id, category, builtin)
	SELECT purpose_id, c, true
	  FROM @extschema@.purpose, unnest(ARRAY['user.preference', 'user.behavior']) c
	 WHERE name = 'personalization';

--------------------------------------------------------------------------
-- Consent
--------------------------------------------------------------------------

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
	PERFORM @extschema@._check_subject(subject);
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
BEGIN
	IF expires_at IS NOT NULL AND expires_at OPERATOR(pg_catalog.<=) now() THEN
		RAISE EXCEPTION 'consent cannot expire in the past'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('expires_at is %s.', expires_at),
			      HINT = 'Pass a future time, or NULL for consent until withdrawn.';
	END IF;
	eid := @extschema@._record_consent(subject, purpose, 'grant', 'g', source, expires_at);

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
	'record that the subject withdraws (or refuses) consent to the purpose and its sub-purposes; returns the event id';

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

--------------------------------------------------------------------------
-- Tags, intents and signals
--------------------------------------------------------------------------

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
	IF weight IS NULL OR weight = 'NaN'::real OR weight = 'Infinity'::real OR weight = '-Infinity'::real THEN
		RAISE EXCEPTION 'weight must be a finite number'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('The weight is %s.', coalesce(weight::text, 'NULL'));
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
	PERFORM @extschema@._check_subject(subject);
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
	PERFORM @extschema@._check_subject(subject);
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
	PERFORM @extschema@._check_subject(subject);
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
	IF at IS NULL OR at OPERATOR(pg_catalog.>) (clock_timestamp() OPERATOR(pg_catalog.+) interval '5 minutes') THEN
		RAISE EXCEPTION 'signal time must not be in the future'
			USING ERRCODE = 'invalid_parameter_value',
			      DETAIL = format('at is %s.', coalesce(at::text, 'NULL'));
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

--------------------------------------------------------------------------
-- Subject tables and subject rights
--------------------------------------------------------------------------

CREATE FUNCTION @extschema@.register_table(tbl regclass, subject_column name)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_register_table'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.register_table(regclass, name) IS
	'declare that a table holds subject data, keyed by subject_column (the caller must own the table)';

CREATE FUNCTION @extschema@.unregister_table(tbl regclass)
RETURNS void
	AS 'MODULE_PATHNAME', 'personalize_unregister_table'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.unregister_table(regclass) IS
	'remove a table from the registry of subject tables (the caller must own the table)';

CREATE FUNCTION @extschema@.export_subject(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_export_subject'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.export_subject(text) IS
	'everything held about a subject (registered tables read as the caller), with consents, history, purposes, intents and signals';

CREATE FUNCTION @extschema@.forget(subject text)
RETURNS jsonb
	AS 'MODULE_PATHNAME', 'personalize_forget'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.forget(text) IS
	'erase a subject from every registered table (as the caller) and from intents, signals and consents; pseudonymize its consent history';

CREATE FUNCTION @extschema@.subject_pseudonym(subject text)
RETURNS text
	AS 'MODULE_PATHNAME', 'personalize_subject_pseudonym'
	LANGUAGE C STRICT;
COMMENT ON FUNCTION @extschema@.subject_pseudonym(text) IS
	'the keyed pseudonym forget() writes into consent history for this subject';

-- Keep the registry true to the catalogs: a dropped table leaves it; the
-- subject column of a registered table cannot be dropped; a renamed subject
-- column is followed.
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
END
$$;
CREATE EVENT TRIGGER personalize_sql_drop ON sql_drop
	EXECUTE FUNCTION @extschema@._on_sql_drop();

CREATE FUNCTION @extschema@._on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- a renamed subject column: the registry names the column's new name
	UPDATE @extschema@.subject_table s
	   SET subject_column = a.attname
	  FROM pg_event_trigger_ddl_commands() c
	  JOIN pg_catalog.pg_attribute a
	    ON a.attrelid OPERATOR(pg_catalog.=) c.objid
	   AND a.attnum OPERATOR(pg_catalog.=) c.objsubid
	 WHERE c.command_tag OPERATOR(pg_catalog.=) 'ALTER TABLE'
	   AND c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND c.objsubid OPERATOR(pg_catalog.>) 0
	   AND c.objid OPERATOR(pg_catalog.=) s.relid::oid
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute x
	                    WHERE x.attrelid OPERATOR(pg_catalog.=) s.relid::oid
	                      AND x.attname OPERATOR(pg_catalog.=) s.subject_column
	                      AND NOT x.attisdropped);
END
$$;
CREATE EVENT TRIGGER personalize_ddl_end ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION @extschema@._on_ddl_end();

--------------------------------------------------------------------------
-- Privileges: everything that writes, or reads personal data, is revoked
-- from PUBLIC; the README's "Security model" shows the least-privilege
-- roles.  Registries (categories, purposes, tags) are readable by all.
--------------------------------------------------------------------------

GRANT SELECT ON @extschema@.data_category, @extschema@.purpose,
	@extschema@.purpose_category, @extschema@.tag TO PUBLIC;

REVOKE ALL ON FUNCTION
	@extschema@.define_category(text, text, text, text, boolean),
	@extschema@.define_purpose(text, text, text, text[], text),
	@extschema@.grant_consent(text, text, text, timestamptz),
	@extschema@.withdraw_consent(text, text, text),
	@extschema@.define_tag(text, text, text),
	@extschema@.state_intent(text, text, real),
	@extschema@.clear_intent(text, text),
	@extschema@.record_signal(text, text, text, real, timestamptz),
	@extschema@.register_table(regclass, name),
	@extschema@.unregister_table(regclass),
	@extschema@.export_subject(text),
	@extschema@.forget(text),
	@extschema@.subject_pseudonym(text),
	@extschema@._purpose_check_cycle(),
	@extschema@._ledger_guard(),
	@extschema@._closest_categories(text),
	@extschema@._unknown_category(text),
	@extschema@._purpose_id(text),
	@extschema@._check_subject(text),
	@extschema@._record_consent(text, text, text, "char", text, timestamptz),
	@extschema@._check_tag(text),
	@extschema@._check_weight(real, boolean),
	@extschema@._on_sql_drop(),
	@extschema@._on_ddl_end()
FROM PUBLIC;

--------------------------------------------------------------------------
-- pg_dump keeps what users configured and recorded
--------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('@extschema@.data_category', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose_purpose_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.purpose_category', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.consent_event_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.pseudonym_key', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.tag', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.intent', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.signal', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.signal_signal_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.subject_table', '');
