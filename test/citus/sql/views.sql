--
-- Consent views over a Citus table: an analyst with SELECT on the view
-- only reads the consenting subjects' rows and the purpose's columns; the
-- view reads its distributed source as its owner (Citus would otherwise
-- ask for the analyst's rights on every shard).
--
\set SHOW_CONTEXT never
SET search_path = public, personalize;
SET personalize.review_ddl = off;

CREATE TABLE profiles (customer_id bigint PRIMARY KEY, email text, city text, note text);
SELECT create_distributed_table('profiles', 'customer_id');
INSERT INTO profiles SELECT g, 'p' || g || '@example.com', 'city ' || g % 7, 'private'
  FROM generate_series(0, 999) g;
SELECT register_table('profiles', 'customer_id');
SELECT classify('profiles', 'email', 'user.contact.email');
SELECT classify('profiles', 'customer_id', 'user.unique_id');
SET client_min_messages = warning;
SELECT define_purpose('mailing', 'the mailing list', 'news first', '{user.contact.email, user.unique_id}');
RESET client_min_messages;
SELECT count(grant_consent(g::text, 'mailing')) FROM generate_series(0, 599) g;

SELECT create_consent_view('mailing_profiles', 'profiles', 'mailing');
SELECT pg_get_viewdef('mailing_profiles');
SELECT view, columns, hidden_columns FROM consent_views WHERE view = 'mailing_profiles'::regclass;
SELECT count(*) AS problems FROM review() WHERE object = 'public.mailing_profiles';

-- the analyst: SELECT on the view, nothing on the table
CREATE ROLE citus_reader LOGIN;
GRANT SELECT ON mailing_profiles TO citus_reader;
SET ROLE citus_reader;
SELECT count(*) AS rows, min(email) AS first FROM mailing_profiles;
SELECT * FROM mailing_profiles WHERE customer_id = 5;
SELECT * FROM mailing_profiles WHERE customer_id = 700;
SELECT count(*) FROM profiles;
RESET ROLE;

-- a withdrawal committed on the coordinator binds the analyst's next query
SELECT withdraw_consent('5', 'mailing') > 0 AS withdrawn;
SET ROLE citus_reader;
SELECT count(*) AS rows FROM mailing_profiles;
SELECT * FROM mailing_profiles WHERE customer_id = 5;
RESET ROLE;

-- the rows function answers only the view's readers, with the view's columns
CREATE ROLE citus_outsider LOGIN;
SET ROLE citus_outsider;
SELECT count(*) FROM _consent_view_rows('public.mailing_profiles') AS r(email text);
RESET ROLE;
SET ROLE citus_reader;
SELECT count(*) FROM _consent_view_rows('public.mailing_profiles') AS r(note text);
RESET ROLE;

SELECT drop_consent_view('mailing_profiles');
DROP ROLE citus_reader;
DROP ROLE citus_outsider;
