-- sql/src/review-categories.sql: data categories: the taxonomy every classification refers to
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
-- Logged whole on UPDATE and DELETE (0.3.0): a publication may leave the
-- built-in categories out (README "Replication").
ALTER TABLE @extschema@.data_category REPLICA IDENTITY FULL;
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
