/*-------------------------------------------------------------------------
 *
 * monthday.c
 *	  The monthday type: a day of the year without a year.
 *
 * Birthdays need a month and a day, not a year: storing the year reveals
 * the customer's age, a demographic attribute personalization must not use.
 * monthday holds just the month and the day.
 *
 * A monthday is a fixed-length, pass-by-value int32 holding
 * month * 100 + day (so 02-29 is 229), which sorts in calendar order.
 * Every day that exists in a leap year is valid, 02-29 included.
 *
 * Text form: MM-DD (one or two digits each are accepted, and the ISO 8601
 * form --MM-DD); output is always MM-DD.
 * Binary form: two bytes, month then day.
 *
 * In a year without February 29, a 02-29 monthday falls on February 28:
 * next_occurrence() and monthdays_within() agree on that rule, so
 * "birthday within the next N days" gives the same answer whichever is used.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/monthday/monthday.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/sortsupport.h"
#include "utils/timestamp.h"

#include "base/compat.h"
#include "base/extension.h"
#include "monthday/monthday.h"

typedef int32 MonthDay;

#define MONTHDAY_MAKE(m, d)		((MonthDay) ((m) * 100 + (d)))
#define MONTHDAY_MONTH(md)		((int) ((md) / 100))
#define MONTHDAY_DAY(md)		((int) ((md) % 100))

#define DatumGetMonthDay(X)		DatumGetInt32(X)
#define MonthDayGetDatum(X)		Int32GetDatum(X)
#define PG_GETARG_MONTHDAY(n)	DatumGetMonthDay(PG_GETARG_DATUM(n))
#define PG_RETURN_MONTHDAY(x)	return MonthDayGetDatum(x)

/* number of distinct monthdays: every day of a leap year */
#define MONTHDAYS_PER_YEAR		366

PG_FUNCTION_INFO_V1(monthday_in);
PG_FUNCTION_INFO_V1(monthday_out);
PG_FUNCTION_INFO_V1(monthday_recv);
PG_FUNCTION_INFO_V1(monthday_send);
PG_FUNCTION_INFO_V1(monthday_eq);
PG_FUNCTION_INFO_V1(monthday_ne);
PG_FUNCTION_INFO_V1(monthday_lt);
PG_FUNCTION_INFO_V1(monthday_le);
PG_FUNCTION_INFO_V1(monthday_gt);
PG_FUNCTION_INFO_V1(monthday_ge);
PG_FUNCTION_INFO_V1(monthday_cmp);
PG_FUNCTION_INFO_V1(monthday_sortsupport);
PG_FUNCTION_INFO_V1(monthday_hash);
PG_FUNCTION_INFO_V1(monthday_hash_extended);
PG_FUNCTION_INFO_V1(monthday_make);
PG_FUNCTION_INFO_V1(monthday_from_date);
PG_FUNCTION_INFO_V1(monthday_from_timestamp);
PG_FUNCTION_INFO_V1(monthday_from_timestamptz);
PG_FUNCTION_INFO_V1(monthday_month);
PG_FUNCTION_INFO_V1(monthday_day);
PG_FUNCTION_INFO_V1(monthday_next_occurrence);
PG_FUNCTION_INFO_V1(monthday_monthdays_within);

/*
 * Is (month, day) a day that exists in some year?  February 29 does.
 */
static bool
monthday_valid(int month, int day)
{
	return month >= 1 && month <= 12 &&
		day >= 1 && day <= day_tab[1][month - 1];
}

/*
 * Read one or two decimal digits at *p, advancing it.  Returns -1 when there
 * is no digit or when there are more than two.
 */
static int
parse_two_digits(const char **p)
{
	int			value = 0;
	int			ndigits = 0;

	while (isdigit((unsigned char) **p))
	{
		if (++ndigits > 2)
			return -1;
		value = value * 10 + (**p - '0');
		(*p)++;
	}
	return ndigits == 0 ? -1 : value;
}

/*
 * monthday_in: text to monthday.
 */
Datum
monthday_in(PG_FUNCTION_ARGS)
{
	const char *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	int			month;
	int			day;

	while (isspace((unsigned char) *p))
		p++;
	/* ISO 8601 spells a recurring month-day --MM-DD */
	if (p[0] == '-' && p[1] == '-')
		p += 2;
	month = parse_two_digits(&p);
	if (month < 0 || *p != '-')
		goto syntax_error;
	p++;
	day = parse_two_digits(&p);
	if (day < 0)
		goto syntax_error;
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '\0')
		goto syntax_error;

	if (!monthday_valid(month, day))
		PERSONALIZE_INPUT_ERROR(fcinfo->context,
							 errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
							 errmsg("date/time field value out of range: \"%s\"",
									str),
							 errhint("A monthday is a month from 01 to 12 and a day that exists in that month; 02-29 is valid."));

	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(month, day));

syntax_error:
	PERSONALIZE_INPUT_ERROR(fcinfo->context,
						 errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						 errmsg("invalid input syntax for type %s: \"%s\"",
								"monthday", str),
						 errhint("Use the form MM-DD, for example 07-14."));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * monthday_out: monthday to text, always MM-DD.
 */
Datum
monthday_out(PG_FUNCTION_ARGS)
{
	MonthDay	md = PG_GETARG_MONTHDAY(0);

	PG_RETURN_CSTRING(psprintf("%02d-%02d",
							   MONTHDAY_MONTH(md), MONTHDAY_DAY(md)));
}

/*
 * monthday_recv: binary input, one byte for the month, one for the day.
 */
Datum
monthday_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			month = pq_getmsgbyte(buf);
	int			day = pq_getmsgbyte(buf);

	if (!monthday_valid(month, day))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid monthday in binary input: month %d, day %d",
						month, day)));

	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(month, day));
}

/*
 * monthday_send: binary output, the inverse of monthday_recv.
 */
Datum
monthday_send(PG_FUNCTION_ARGS)
{
	MonthDay	md = PG_GETARG_MONTHDAY(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, MONTHDAY_MONTH(md));
	pq_sendbyte(&buf, MONTHDAY_DAY(md));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Comparison: the integer order is the calendar order. */

Datum
monthday_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) == PG_GETARG_MONTHDAY(1));
}

Datum
monthday_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) != PG_GETARG_MONTHDAY(1));
}

Datum
monthday_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) < PG_GETARG_MONTHDAY(1));
}

Datum
monthday_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) <= PG_GETARG_MONTHDAY(1));
}

Datum
monthday_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) > PG_GETARG_MONTHDAY(1));
}

Datum
monthday_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(PG_GETARG_MONTHDAY(0) >= PG_GETARG_MONTHDAY(1));
}

/*
 * Three-way comparison shared by the btree support function and sort support.
 */
static inline int
monthday_cmp_internal(MonthDay a, MonthDay b)
{
	return (a > b) - (a < b);
}

Datum
monthday_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(monthday_cmp_internal(PG_GETARG_MONTHDAY(0),
										  PG_GETARG_MONTHDAY(1)));
}

static int
monthday_fastcmp(Datum x, Datum y, SortSupport ssup pg_attribute_unused())
{
	return monthday_cmp_internal(DatumGetMonthDay(x), DatumGetMonthDay(y));
}

/*
 * monthday_sortsupport: btree support function 2, a comparator that skips
 * the fmgr call overhead when sorting.
 */
Datum
monthday_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = monthday_fastcmp;
	PG_RETURN_VOID();
}

Datum
monthday_hash(PG_FUNCTION_ARGS)
{
	return hash_uint32((uint32) PG_GETARG_MONTHDAY(0));
}

Datum
monthday_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_uint32_extended((uint32) PG_GETARG_MONTHDAY(0),
								PG_GETARG_INT64(1));
}

/*
 * monthday(month int, day int): construct from fields.
 */
Datum
monthday_make(PG_FUNCTION_ARGS)
{
	int32		month = PG_GETARG_INT32(0);
	int32		day = PG_GETARG_INT32(1);

	if (!monthday_valid(month, day))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("date field value out of range: month %d, day %d",
						month, day),
				 errhint("A monthday is a month from 1 to 12 and a day that exists in that month; February 29 is valid.")));

	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(month, day));
}

/*
 * Error for an infinite date or timestamp, which has no month or day.
 */
static void
report_infinite(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("cannot convert infinite %s to monthday", what)));
}

/*
 * Cast date -> monthday, dropping the year.
 */
Datum
monthday_from_date(PG_FUNCTION_ARGS)
{
	DateADT		date = PG_GETARG_DATEADT(0);
	int			year;
	int			month;
	int			day;

	if (DATE_NOT_FINITE(date))
		report_infinite("date");
	j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(month, day));
}

/*
 * Cast timestamp -> monthday, dropping the year and the time of day.
 */
Datum
monthday_from_timestamp(PG_FUNCTION_ARGS)
{
	Timestamp	ts = PG_GETARG_TIMESTAMP(0);
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		report_infinite("timestamp");
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(tm.tm_mon, tm.tm_mday));
}

/*
 * Cast timestamptz -> monthday, in the session's time zone (hence STABLE).
 */
Datum
monthday_from_timestamptz(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	if (TIMESTAMP_NOT_FINITE(ts))
		report_infinite("timestamp with time zone");
	if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	PG_RETURN_MONTHDAY(MONTHDAY_MAKE(tm.tm_mon, tm.tm_mday));
}

Datum
monthday_month(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(MONTHDAY_MONTH(PG_GETARG_MONTHDAY(0)));
}

Datum
monthday_day(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(MONTHDAY_DAY(PG_GETARG_MONTHDAY(0)));
}

/*
 * The date on which monthday md falls in the given year: 02-29 falls on
 * February 28 in a year without February 29.
 */
static DateADT
monthday_in_year(MonthDay md, int year)
{
	int			month = MONTHDAY_MONTH(md);
	int			day = MONTHDAY_DAY(md);

	if (month == 2 && day == 29 && !isleap(year))
		day = 28;
	return date2j(year, month, day) - POSTGRES_EPOCH_JDATE;
}

/*
 * next_occurrence(monthday, date): the first date on or after the given date
 * that falls on the monthday.
 */
Datum
monthday_next_occurrence(PG_FUNCTION_ARGS)
{
	MonthDay	md = PG_GETARG_MONTHDAY(0);
	DateADT		from = PG_GETARG_DATEADT(1);
	DateADT		result;
	int			year;
	int			month;
	int			day;

	if (DATE_NOT_FINITE(from))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot compute the next occurrence after an infinite date")));

	j2date(from + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	result = monthday_in_year(md, year);
	if (result < from)
		result = monthday_in_year(md, year + 1);
	if (!IS_VALID_DATE(result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range")));
	PG_RETURN_DATEADT(result);
}

/*
 * monthdays_within(from date, days int): every monthday that falls on a date
 * from "from" to "from + days" inclusive, in ascending order, as an array.
 *
 * "md = ANY (monthdays_within(current_date, 30))" is how an index on a
 * monthday column answers "birthday within the next 30 days", across the
 * new year too.  When the window contains February 28 of a year without
 * February 29, 02-29 is included, by the rule of next_occurrence().
 */
Datum
monthday_monthdays_within(PG_FUNCTION_ARGS)
{
	DateADT		from = PG_GETARG_DATEADT(0);
	int32		days = PG_GETARG_INT32(1);
	bool		seen[MONTHDAY_MAKE(12, 31) + 1] = {false};
	Datum		elems[MONTHDAYS_PER_YEAR];
	int			nelems = 0;
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (DATE_NOT_FINITE(from))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("cannot compute monthdays from an infinite date")));
	if (days < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of days must not be negative"),
				 errhint("The window runs forward from the given date.")));

	if (days >= MONTHDAYS_PER_YEAR - 1)
	{
		/* a window of a year or more holds every day */
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= day_tab[1][m - 1]; d++)
				seen[MONTHDAY_MAKE(m, d)] = true;
	}
	else
	{
		if (!IS_VALID_DATE((int64) from + days))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range")));
		for (int32 i = 0; i <= days; i++)
		{
			int			year;
			int			month;
			int			day;

			j2date(from + i + POSTGRES_EPOCH_JDATE, &year, &month, &day);
			seen[MONTHDAY_MAKE(month, day)] = true;
			if (month == 2 && day == 28 && !isleap(year))
				seen[MONTHDAY_MAKE(2, 29)] = true;
		}
	}

	for (int md = MONTHDAY_MAKE(1, 1); md <= MONTHDAY_MAKE(12, 31); md++)
		if (seen[md])
			elems[nelems++] = MonthDayGetDatum(md);

	/* the element type is monthday, whatever OID it got at CREATE TYPE */
	elemtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	if (!OidIsValid(elemtype))
		elemtype = PersonalizeTypeOid("monthday");
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);

	PG_RETURN_ARRAYTYPE_P(construct_array(elems, nelems, elemtype,
										  typlen, typbyval, typalign));
}
