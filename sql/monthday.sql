--
-- monthday: a day of the year without a year
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS personalize;
RESET client_min_messages;
SET search_path = personalize, public;
SET DateStyle = ISO;

-- text input and output
SELECT '07-14'::monthday, '7-4'::monthday, ' 12-31 '::monthday, '--02-29'::monthday,
       '01-01'::monthday;

-- every valid day round-trips through text, and there are 366 of them
SELECT count(*) AS days,
       count(*) FILTER (WHERE to_char(d, 'MM-DD')::monthday::text = to_char(d, 'MM-DD')) AS round_trips
  FROM generate_series('2024-01-01'::date, '2024-12-31', '1 day') AS d;

-- bad input: the message shows the value and a hint
SELECT '02-30'::monthday;
SELECT '1-1x'::monthday;
SELECT ''::monthday;

-- and the SQLSTATE says what is wrong: 22007 for the form, 22008 for a day
-- that does not exist
CREATE FUNCTION pg_temp.sqlstate_of(input text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM input::personalize.monthday;
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT input, pg_temp.sqlstate_of(input)
  FROM unnest(ARRAY['02-30', '13-01', '00-10', '04-31', '01-00', '02-31', '12-32',
                    '1-1x', '', ' ', '2024-01-01', '01/01', '001-01', '-01-01',
                    '01-', '-01', '1.5-01', '+1-01', '01-01-', '99999999999-01',
                    '02-29', ' 2-9 ']) AS input;

-- constructor from fields
SELECT monthday(2, 29), monthday(12, 31);
SELECT monthday(2, 30);
SELECT monthday(0, 1);
SELECT monthday(NULL, 1) IS NULL AS null_in_null_out;

-- month and day
SELECT month('11-23'::monthday), day('11-23'::monthday);

-- casts drop the year (and the time of day)
SELECT '1990-07-14'::date::monthday AS from_date,
       '2000-02-29 23:59:59'::timestamp::monthday AS from_timestamp,
       '1985-12-31'::date::monthday AS new_years_eve;
-- a timestamptz is read in the session's time zone
SET TimeZone = 'UTC';
SELECT '2024-03-01 02:00:00+00'::timestamptz::monthday AS utc;
SET TimeZone = 'America/New_York';
SELECT '2024-03-01 02:00:00+00'::timestamptz::monthday AS new_york;
RESET TimeZone;
SELECT 'infinity'::date::monthday;
SELECT '-infinity'::timestamp::monthday;
SELECT 'infinity'::timestamptz::monthday;
-- no implicit cast: a date is not silently a monthday
SELECT '07-14'::monthday = '2024-07-14'::date;

-- comparison operators
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge
  FROM (VALUES ('01-31'::monthday, '02-01'::monthday),
               ('02-29', '02-29'),
               ('12-31', '01-01')) AS v(a, b);

-- binary output is two bytes, month then day (test/t/001_monthday.pl round-trips
-- every day through COPY BINARY)
SELECT monthday_send('02-29'), monthday_send('12-31');

-- next_occurrence: on or after the given date
SELECT next_occurrence('07-14', '2026-07-13') AS day_before,
       next_occurrence('07-14', '2026-07-14') AS same_day,
       next_occurrence('07-14', '2026-07-15') AS day_after,
       next_occurrence('01-02', '2026-12-30') AS across_new_year;
-- 02-29 falls on 02-28 in years without February 29
SELECT next_occurrence('02-29', '2024-01-01') AS leap_year,
       next_occurrence('02-29', '2025-01-01') AS common_year,
       next_occurrence('02-29', '2025-03-01') AS after_feb_2025,
       next_occurrence('02-29', '2027-03-01') AS before_2028;
SELECT next_occurrence('07-14', 'infinity');

-- monthdays_within: the monthdays of a window of dates
SELECT monthdays_within('2026-12-29', 5);
SELECT monthdays_within('2025-02-27', 2) AS common_year_has_0229,
       monthdays_within('2024-02-27', 1) AS leap_year_before_0229;
SELECT cardinality(monthdays_within('2026-01-01', 364)) AS almost_a_year,
       cardinality(monthdays_within('2026-01-01', 365)) AS a_year,
       cardinality(monthdays_within('2026-01-01', 100000)) AS much_more;
SELECT monthdays_within('2026-01-01', 0);
SELECT monthdays_within('2026-01-01', -1);

-- within_days agrees with next_occurrence for every day, start and width
SELECT count(*) AS mismatches
  FROM generate_series('2024-01-01'::date, '2024-12-31', '1 day') AS b,
       generate_series('2023-12-20'::date, '2025-03-05', '7 days') AS f,
       (VALUES (0), (1), (6), (30), (59), (364)) AS w(n)
 WHERE within_days(b::monthday, f::date, n)
       IS DISTINCT FROM (next_occurrence(b::monthday, f::date) <= f::date + n);

-- indexes, sorting, hashing, joins
CREATE TABLE customer_birthdays (id int PRIMARY KEY, birthday monthday);
INSERT INTO customer_birthdays
  SELECT i, ('2024-01-01'::date + (i * 7919) % 366)::monthday
    FROM generate_series(1, 5000) AS i;
INSERT INTO customer_birthdays VALUES (5001, NULL);
CREATE INDEX ON customer_birthdays (birthday);
CREATE INDEX customer_birthdays_hash ON customer_birthdays USING hash (birthday);
ANALYZE customer_birthdays;

SELECT birthday FROM customer_birthdays ORDER BY birthday LIMIT 3;
SELECT birthday FROM customer_birthdays ORDER BY birthday DESC NULLS LAST LIMIT 3;
SELECT count(DISTINCT birthday) AS distinct_days FROM customer_birthdays;

-- "birthday within the next N days" across the new year uses the index
EXPLAIN (COSTS OFF)
SELECT id FROM customer_birthdays WHERE within_days(birthday, '2026-12-28', 7);
SELECT count(*) AS in_window,
       count(*) FILTER (WHERE birthday >= '12-28' OR birthday <= '01-04') AS by_hand
  FROM customer_birthdays WHERE within_days(birthday, '2026-12-28', 7);

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM customer_birthdays WHERE birthday = '03-15';
SELECT count(*) FROM customer_birthdays WHERE birthday = '03-15';
SET enable_indexscan = off;
SET enable_bitmapscan = on;
DROP INDEX customer_birthdays_birthday_idx;
EXPLAIN (COSTS OFF)
SELECT id FROM customer_birthdays WHERE birthday = '03-15';
SELECT count(*) FROM customer_birthdays WHERE birthday = '03-15';
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;

-- GROUP BY through hashing and through sorting give the same groups
SET enable_sort = off;
EXPLAIN (COSTS OFF)
SELECT birthday, count(*) FROM customer_birthdays GROUP BY birthday;
CREATE TEMP TABLE by_hash AS SELECT birthday, count(*) FROM customer_birthdays GROUP BY birthday;
RESET enable_sort;
SET enable_hashagg = off;
CREATE TEMP TABLE by_sort AS SELECT birthday, count(*) FROM customer_birthdays GROUP BY birthday;
RESET enable_hashagg;
SELECT (SELECT count(*) FROM by_hash) AS groups,
       (SELECT count(*) FROM (SELECT * FROM by_hash EXCEPT SELECT * FROM by_sort) x) AS differences;

-- hash join and merge join
CREATE TABLE holidays (day monthday, name text);
INSERT INTO holidays VALUES ('01-01', 'New Year''s Day'), ('12-25', 'Christmas Day'),
                            ('02-29', 'Leap Day'), ('07-14', 'Bastille Day');
ANALYZE holidays;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF)
SELECT h.name, count(*) FROM holidays h JOIN customer_birthdays c ON c.birthday = h.day GROUP BY h.name;
SELECT h.name, count(*) FROM holidays h JOIN customer_birthdays c ON c.birthday = h.day GROUP BY h.name ORDER BY h.name;
RESET enable_mergejoin;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF)
SELECT h.name, count(*) FROM holidays h JOIN customer_birthdays c ON c.birthday = h.day GROUP BY h.name;
SELECT h.name, count(*) FROM holidays h JOIN customer_birthdays c ON c.birthday = h.day GROUP BY h.name ORDER BY h.name;
RESET enable_hashjoin;
RESET enable_nestloop;

-- a unique index enforces one row per day
CREATE UNIQUE INDEX ON holidays (day);
INSERT INTO holidays VALUES ('12-25', 'Christmas again');

-- hash partitioning uses the extended hash function
CREATE TABLE birthday_parts (birthday monthday) PARTITION BY HASH (birthday);
CREATE TABLE birthday_parts_0 PARTITION OF birthday_parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE birthday_parts_1 PARTITION OF birthday_parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO birthday_parts SELECT DISTINCT birthday FROM customer_birthdays WHERE birthday IS NOT NULL;
SELECT (SELECT count(*) FROM birthday_parts_0) > 0 AS part0_used,
       (SELECT count(*) FROM birthday_parts_1) > 0 AS part1_used,
       (SELECT count(*) FROM birthday_parts) AS total;

DROP TABLE birthday_parts, holidays, customer_birthdays, by_hash, by_sort;
