/*-------------------------------------------------------------------------
 *
 * text.c
 *	  What counts as white space in the text users give, for C and for the
 *	  SQL functions (_blank()), so that a reason, a value exchange or a
 *	  key of tabs or no-break spaces is as empty as one of spaces.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"

#include "base/text.h"
#include "base/compat.h"

PG_FUNCTION_INFO_V1(personalize_blank);

/*
 * The character at s[*i] (len bytes in all), and *i moved past it: a code
 * point in a UTF-8 database; otherwise a byte, where only ASCII is judged
 * (a non-ASCII byte is 0x100, neither blank nor control).
 */
static inline pg_wchar
next_char(const char *s, int *i, bool utf8)
{
	const unsigned char *p = (const unsigned char *) s + *i;

	if (utf8)
	{
		*i += pg_utf_mblen(p);
		return utf8_to_unicode(p);
	}
	(*i)++;
	return *p < 0x80 ? *p : 0x100;
}

int
TextChars(const char *s, int len, pg_wchar **chars)
{
	pg_wchar   *out = palloc(sizeof(pg_wchar) * (len + 1));
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	int			n = 0;

	for (int i = 0; i < len;)
		out[n++] = next_char(s, &i, utf8);
	*chars = out;
	return n;
}

/* no allocation, and done at the first character that is not blank */
bool
TextIsBlank(const char *s, int len)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	for (int i = 0; i < len;)
		if (!TextCharIsBlank(next_char(s, &i, utf8)))
			return false;
	return true;
}

/*
 * _blank(text) RETURNS boolean: is the text empty or white space only?
 * For the SQL functions' checks and the tables' CHECK constraints.
 */
Datum
personalize_blank(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(TextIsBlank(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}
