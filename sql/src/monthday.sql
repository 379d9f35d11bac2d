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
