-- demo.sql -- a narrated walk-through of personalize on a sample retailer.
-- Run by `make demo` on a throwaway cluster; safe to read top to bottom.
\set QUIET on
\pset footer off
SET client_min_messages = warning;
SET DateStyle = ISO;

\echo
\echo '=== personalize: marketing personalization that earns trust ==='
\echo
\echo 'A retailer keeps customers and orders (demo/retailer.sql).'
\i retailer.sql
CREATE EXTENSION personalize;
SET search_path = public, personalize;
SELECT customer_id, name, birth_date FROM customers ORDER BY customer_id;

\echo
\echo '--- 1. Birthdays need a month and a day, not a year ---'
\echo 'A birth date with its year reveals age, a demographic we must not target.'
\echo 'monthday keeps only MM-DD. We convert the column and the year is gone:'
ALTER TABLE customers ALTER COLUMN birth_date TYPE monthday USING birth_date::monthday;
ALTER TABLE customers RENAME COLUMN birth_date TO birthday;
SELECT customer_id, name, birthday FROM customers ORDER BY birthday;

\echo
\echo 'Whose birthday falls in the 7 days from 2026-12-28, across the new year?'
\echo '(within_days is index-friendly: it becomes birthday = ANY(...))'
CREATE INDEX ON customers (birthday);
SELECT name, birthday, next_occurrence(birthday, '2026-12-28') AS celebrate_on
  FROM customers
 WHERE within_days(birthday, '2026-12-28', 7)
 ORDER BY celebrate_on;

\echo
\echo 'Emeka was born on 02-29. In a year without February 29 the birthday'
\echo 'falls on February 28:'
SELECT name, birthday,
       next_occurrence(birthday, '2027-01-01') AS in_2027,
       next_occurrence(birthday, '2028-01-01') AS in_2028
  FROM customers WHERE birthday = '02-29';

\echo
\echo 'Bad input is refused with a clear error, never stored:'
\set ON_ERROR_STOP off
SELECT '02-30'::monthday;
\set ON_ERROR_STOP on
