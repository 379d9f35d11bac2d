/*-------------------------------------------------------------------------
 *
 * text.h
 *	  What counts as white space in the text users give: keys, reasons,
 *	  descriptions.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/text.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_TEXT_H
#define PERSONALIZE_TEXT_H

#include "postgres.h"

#include "mb/pg_wchar.h"

/*
 * White space and the invisible characters that read as none: ASCII white
 * space, NEL, no-break and the Unicode spaces, zero-width characters, the
 * line and paragraph separators, the byte order mark.
 */
static inline bool
TextCharIsBlank(pg_wchar c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 ||
		c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200d) ||
		c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
		c == 0x2060 || c == 0x3000 || c == 0xfeff;
}

/*
 * The characters of a text, as code points in a UTF-8 database, otherwise
 * as bytes where only ASCII is judged (a non-ASCII byte is 0x100, neither
 * blank nor control).  Returns their number; *chars is palloc'd.
 */
extern int	TextChars(const char *s, int len, pg_wchar **chars);

/* is the text empty, or white space only? */
extern bool TextIsBlank(const char *s, int len);

#endif							/* PERSONALIZE_TEXT_H */
