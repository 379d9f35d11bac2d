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

int
TextChars(const char *s, int len, pg_wchar **chars)
{
	pg_wchar   *out = palloc(sizeof(pg_wchar) * (len + 1));
	int			n = 0;

	if (GetDatabaseEncoding() == PG_UTF8)
	{
		for (int i = 0; i < len;)
		{
			out[n++] = utf8_to_unicode((const unsigned char *) s + i);
			i += pg_utf_mblen((const unsigned char *) s + i);
		}
	}
	else
	{
		for (int i = 0; i < len; i++)
		{
			unsigned char b = (unsigned char) s[i];

			out[n++] = b < 0x80 ? b : 0x100;
		}
	}
	*chars = out;
	return n;
}

bool
TextIsBlank(const char *s, int len)
{
	pg_wchar   *c;
	int			n = TextChars(s, len, &c);
	bool		blank = true;

	for (int i = 0; i < n && blank; i++)
		blank = TextCharIsBlank(c[i]);
	pfree(c);
	return blank;
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
