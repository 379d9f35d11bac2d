--
-- Proxy detection: which columns predict a sensitive one?
--
-- each test file starts from a fresh install
SET client_min_messages = warning;
SET personalize.drop_ledgers = on;
DROP EXTENSION IF EXISTS personalize CASCADE;
RESET personalize.drop_ledgers;
CREATE EXTENSION personalize;
RESET client_min_messages;
SET search_path = public, personalize;
\set SHOW_CONTEXT never
SET personalize.review_ddl = off;

-- generated residents: in each postal code most people share an ethnicity
-- (the seeds' example); the favourite colour, the signup time, the spend
-- and loyalty are independent of it
CREATE TABLE residents (
	customer_id bigint PRIMARY KEY,
	postal_code text,
	ethnicity   text,
	favourite_colour text,
	signed_up   timestamptz,
	spend       numeric,
	loyal       boolean
);
INSERT INTO residents
	SELECT i,
	       'PC' || (i % 40),
	       CASE WHEN (i * 7) % 10 < 9    -- 90% follow their postal code
	            THEN (ARRAY['a', 'b', 'c', 'd'])[1 + (i % 40) % 4]
	            ELSE (ARRAY['a', 'b', 'c', 'd'])[1 + (i / 40) % 4] END,
	       (ARRAY['red', 'green', 'blue'])[1 + (i * 2654435761) % 3],
	       '2026-01-01'::timestamptz + ((i * 40503) % 100000) * interval '1 minute',
	       ((i * 48271) % 1000) / 10.0,
	       substr(md5(i::text), 1, 1) < '8'
	  FROM generate_series(1, 20000) AS i;

SELECT column_name, round(association::numeric, 2) AS association, categories, method
  FROM detect_proxies('residents', 'ethnicity')
 ORDER BY association DESC;
-- a column with about one value per row is left out, with a notice
ALTER TABLE residents ADD COLUMN email text;
UPDATE residents SET email = 'r' || customer_id || '@example.com';
SELECT column_name FROM detect_proxies('residents', 'ethnicity');
ALTER TABLE residents DROP COLUMN email;
-- every column, with its figure
SELECT column_name, round(association::numeric, 2) AS association, categories, method
  FROM detect_proxies('residents', 'ethnicity', 0)
 ORDER BY association DESC, column_name;
-- NULLs in the sensitive column are left out; NULLs elsewhere are a category
UPDATE residents SET ethnicity = NULL WHERE customer_id % 10 = 0;
UPDATE residents SET postal_code = NULL WHERE customer_id % 7 = 0;
SELECT column_name, round(association::numeric, 1) AS association
  FROM detect_proxies('residents', 'ethnicity', 0.5);

-- values never become SQL text: infinities, NaN and numbers beyond float8
-- are bins of their own, whatever the column's type
CREATE TABLE extremes (ethnicity text, score float8, amount numeric, seen timestamptz, born date);
INSERT INTO extremes
	SELECT (ARRAY['a', 'b'])[1 + i % 2], i, i, now() - i * interval '1 day', current_date - i
	  FROM generate_series(1, 200) i;
INSERT INTO extremes VALUES
	('a', 'infinity', 'infinity', 'infinity', 'infinity'),
	('b', '-infinity', '-infinity', '-infinity', '-infinity'),
	('a', 'NaN', 'NaN', NULL, NULL),
	('b', 1e308, 1e400, NULL, NULL),
	('a', -1e308, -1e400, NULL, NULL);
SELECT column_name, categories, method
  FROM detect_proxies('extremes', 'ethnicity', 0) ORDER BY column_name;
-- a column whose finite values span all of float8
DELETE FROM extremes WHERE score BETWEEN 2 AND 200;
SELECT column_name, categories FROM detect_proxies('extremes', 'ethnicity', 0)
 WHERE column_name = 'score';
DROP TABLE extremes;

-- bad input
SELECT * FROM detect_proxies('residents', 'no_such_column');
SELECT * FROM detect_proxies(NULL, 'ethnicity');
SELECT * FROM detect_proxies(999999::oid::regclass, 'ethnicity');
SELECT * FROM detect_proxies('residents', NULL);
SELECT * FROM detect_proxies('residents', 'ethnicity', 1.5);
SELECT * FROM detect_proxies('residents', 'ethnicity', NULL);
SELECT * FROM detect_proxies('no_such_table', 'ethnicity');
CREATE TABLE lonely (ethnicity text);
SELECT * FROM detect_proxies('lonely', 'ethnicity');
DROP TABLE lonely, residents;
