-- sql/src/match.sql: intent matching: the offer catalog and match() (src/match.c)
--
-- Part of the install script; the Makefile concatenates the parts in the
-- order of SQL_SOURCES.

-- The offer catalog.  Marketers edit these two tables directly (see README
-- "Security model" for the role); match() reads them into an inverted index
-- (shared by every session when the library is preloaded), and the offers
-- changed since it was built from match_catalog_change.
-- offer_id is compared bytewise (COLLATE "C"): ties in a ranking are broken
-- by offer_id in that order.  The columns match() reads come first.
CREATE TABLE @extschema@.offers (
	-- src/base/names.h: match() reads the primary keys of offers and offer_tags
	offer_id    text COLLATE "C" CONSTRAINT offers_pkey PRIMARY KEY
	            CONSTRAINT offers_offer_id_check CHECK (NOT @extschema@._blank(offer_id)),
	title       text NOT NULL
	            CONSTRAINT offers_title_check CHECK (NOT @extschema@._blank(title)),
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
	CONSTRAINT offer_tags_pkey PRIMARY KEY (offer_id, tag)
);
CREATE INDEX offer_tags_tag_idx ON @extschema@.offer_tags (tag);
COMMENT ON TABLE @extschema@.offer_tags IS
	'the interest tags an offer carries, each with a positive weight; demographic, sensitive, special and proxy tags are refused';

-- One row whose version every change to offers, offer_tags, tag or
-- data_category increments, in the writer's transaction.  match() reads it
-- through its statement's snapshot: when it differs from the version its
-- index was built from, the offers changed in between are in
-- match_catalog_change.  Freshness is exact, with no window between a
-- commit and an invalidation message.  horizon: the change log holds every
-- change after that version (older ones were pruned).
CREATE TABLE @extschema@.match_catalog_version (
	-- src/base/names.h: match() reads it by name
	only_row   boolean DEFAULT true
	           CONSTRAINT match_catalog_version_pkey PRIMARY KEY
	           CONSTRAINT match_catalog_version_only_row CHECK (only_row),
	version    bigint NOT NULL,
	changed_at timestamptz NOT NULL,
	horizon    bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE @extschema@.match_catalog_version IS
	'incremented by every change to the offer catalog; match() brings its index up to date when it differs';
INSERT INTO @extschema@.match_catalog_version VALUES (true, 1, now());

-- The change log: which offers each catalog version changed, so that a
-- change to k offers costs match() work in k, not in the catalog.  A row
-- without offer_id stands for a change to every offer (tags, categories,
-- TRUNCATE, or a statement changing more than 10,000 offers): the index is
-- rebuilt.  Written by the triggers below only; pruned by the maintenance
-- pass (_match_fold) once a newer index covers it.
CREATE TABLE @extschema@.match_catalog_change (
	version   bigint NOT NULL,
	offer_id  text COLLATE "C",
	logged_at timestamptz NOT NULL DEFAULT now()
);
-- src/base/names.h
CREATE INDEX match_catalog_change_version_idx ON @extschema@.match_catalog_change (version);
-- no key: logged whole, so that a publication FOR ALL TABLES leaves the
-- pruning of the log working (0.3.0)
ALTER TABLE @extschema@.match_catalog_change REPLICA IDENTITY FULL;
COMMENT ON TABLE @extschema@.match_catalog_change IS
	'the offers each catalog version changed (NULL: all of them), read by match() to bring its index up to date';

-- Statement triggers on the catalog: one version increment per statement,
-- and the offers it changed (from its transition tables) in the change log.
-- SECURITY DEFINER so that a marketer who may edit offers needs no
-- privilege on the version table.  Concurrent catalog writers queue on the
-- version row until the first commits, so committed versions increase in
-- commit order.
CREATE FUNCTION @extschema@._match_catalog_changed() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v bigint;
	n bigint;
BEGIN
	-- a subscription that fills the change log too (FOR ALL TABLES) brings
	-- the publisher's entries; its first copy of the catalog fires this
	IF @extschema@._subscribed('@extschema@.match_catalog_change'::pg_catalog.regclass) THEN
		RETURN NULL;
	END IF;
	UPDATE @extschema@.match_catalog_version
	   SET version = version OPERATOR(pg_catalog.+) 1, changed_at = pg_catalog.now()
	RETURNING version INTO v;
	IF TG_TABLE_NAME NOT IN ('offers', 'offer_tags') OR TG_OP = 'TRUNCATE' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
		RETURN NULL;
	END IF;
	IF TG_OP = 'INSERT' THEN
		SELECT pg_catalog.count(DISTINCT r.offer_id) INTO n FROM new_rows r;
	ELSIF TG_OP = 'DELETE' THEN
		SELECT pg_catalog.count(DISTINCT r.offer_id) INTO n FROM old_rows r;
	ELSE
		SELECT pg_catalog.count(*) INTO n
		  FROM (SELECT r.offer_id FROM new_rows r UNION SELECT r.offer_id FROM old_rows r) x;
	END IF;
	IF n OPERATOR(pg_catalog.>) 10000 THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT DISTINCT v, r.offer_id FROM new_rows r;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT DISTINCT v, r.offer_id FROM old_rows r;
	ELSE
		INSERT INTO @extschema@.match_catalog_change (version, offer_id)
		SELECT v, x.offer_id
		  FROM (SELECT r.offer_id FROM new_rows r UNION SELECT r.offer_id FROM old_rows r) x;
	END IF;
	RETURN NULL;
END
$$;
-- a trigger with transition tables fires for one event only
CREATE TRIGGER offers_match_catalog_insert
	AFTER INSERT ON @extschema@.offers REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_update
	AFTER UPDATE ON @extschema@.offers REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_delete
	AFTER DELETE ON @extschema@.offers REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offers_match_catalog_truncate
	AFTER TRUNCATE ON @extschema@.offers
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_insert
	AFTER INSERT ON @extschema@.offer_tags REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_update
	AFTER UPDATE ON @extschema@.offer_tags REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_delete
	AFTER DELETE ON @extschema@.offer_tags REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._match_catalog_changed();
CREATE TRIGGER offer_tags_match_catalog_truncate
	AFTER TRUNCATE ON @extschema@.offer_tags
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

-- The catalog's bookkeeping fires however a change arrives: also for a
-- logical replication subscriber's apply worker and for
-- session_replication_role = replica (pg_restore --disable-triggers), or
-- match() there would answer from a catalog that no longer is.
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_insert;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_update;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_delete;
ALTER TABLE @extschema@.offers ENABLE ALWAYS TRIGGER offers_match_catalog_truncate;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_insert;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_update;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_delete;
ALTER TABLE @extschema@.offer_tags ENABLE ALWAYS TRIGGER offer_tags_match_catalog_truncate;
ALTER TABLE @extschema@.tag ENABLE ALWAYS TRIGGER tag_match_catalog_changed;
ALTER TABLE @extschema@.data_category ENABLE ALWAYS TRIGGER data_category_match_catalog_changed;
-- A subscription's apply worker fires row triggers only: there each row
-- applied to the catalog is a change of its own (0.3.0).
CREATE FUNCTION @extschema@._match_catalog_applied() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v bigint;
BEGIN
	-- a subscription that fills the change log too (FOR ALL TABLES) brings
	-- the publisher's entries for the same change
	IF NOT @extschema@._applying()
	   OR @extschema@._subscribed('@extschema@.match_catalog_change'::pg_catalog.regclass) THEN
		RETURN NULL;
	END IF;
	UPDATE @extschema@.match_catalog_version
	   SET version = version OPERATOR(pg_catalog.+) 1, changed_at = pg_catalog.now()
	RETURNING version INTO v;
	IF TG_TABLE_NAME NOT IN ('offers', 'offer_tags') THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NULL);
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, OLD.offer_id);
	END IF;
	IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.offer_id IS DISTINCT FROM NEW.offer_id) THEN
		INSERT INTO @extschema@.match_catalog_change (version, offer_id) VALUES (v, NEW.offer_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER offers_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.offers
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER offer_tags_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.offer_tags
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER tag_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.tag
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
CREATE TRIGGER data_category_match_catalog_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.data_category
	FOR EACH ROW EXECUTE FUNCTION @extschema@._match_catalog_applied();
ALTER TABLE @extschema@.offers ENABLE REPLICA TRIGGER offers_match_catalog_applied;
ALTER TABLE @extschema@.offer_tags ENABLE REPLICA TRIGGER offer_tags_match_catalog_applied;
ALTER TABLE @extschema@.tag ENABLE REPLICA TRIGGER tag_match_catalog_applied;
ALTER TABLE @extschema@.data_category ENABLE REPLICA TRIGGER data_category_match_catalog_applied;

-- The maintenance duty that keeps the change log short: with the shared
-- index, rebuild it once enough offers changed (or the oldest change is
-- five minutes old), then prune the changes it covers; without it, prune
-- changes older than an hour (a session whose index predates them
-- rebuilds it).  Returns the change log rows deleted.
CREATE FUNCTION @extschema@._match_fold() RETURNS bigint
	AS 'MODULE_PATHNAME', 'personalize_match_fold'
	LANGUAGE C;

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
	OUT shared boolean,
	OUT offers integer,
	OUT tags integer,
	OUT postings bigint,
	OUT memory_bytes bigint,
	OUT memory_limit_bytes bigint,
	OUT built_at timestamptz,
	OUT build_ms double precision,
	OUT builds bigint,
	OUT base_version bigint,
	OUT overlay_offers integer,
	OUT overlay_bytes bigint,
	OUT shared_version bigint,
	OUT shared_bytes bigint,
	OUT shared_built_at timestamptz,
	OUT shared_build_ms double precision,
	OUT shared_builds bigint,
	OUT shared_memory_limit_bytes bigint,
	OUT blocks_scored bigint,
	OUT blocks_skipped bigint,
	OUT postings_scored bigint,
	OUT postings_skipped bigint)
RETURNS record
	AS 'MODULE_PATHNAME', 'personalize_match_cache_info'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION @extschema@.match_cache_info() IS
	'the offer catalog index this session uses: versions, shared or private, size, build time, the overlay of changed offers, blocks and postings pruning skipped';

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
	PERFORM @extschema@._require_relation(tbl);
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
	@extschema@._match_catalog_changed(),
	@extschema@._match_catalog_applied(),
	@extschema@._match_fold(),
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
