/*-------------------------------------------------------------------------
 *
 * subject_key.h
 *	  The rules of a subject key, in one place (subject_key.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/subject_key.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_SUBJECT_KEY_H
#define PERSONALIZE_SUBJECT_KEY_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/uuid.h"

/*
 * A key is text that is not empty, contains no control character and
 * neither begins nor ends with white space (Unicode's included).  Every
 * function that records or acts on a subject refuses a key that breaks
 * them; has_consent() and match() answer for it as for a subject nobody
 * recorded anything about.
 */
extern bool SubjectKeyValid(const char *key, int len);
extern void SubjectKeyCheck(const char *key, int len);

/*
 * A key must also be the canonical form of the value each registered
 * subject column reads from it ("7", not "007", for a bigint column; a
 * lower-case uuid), so that the consent ledger and every table name a
 * customer alike: refused otherwise.
 */
extern void SubjectKeyCheckCanonical(const char *key, int len);

/*
 * The canonical text of a key for a type, or NULL if the key is not a value
 * of that type.  Only the base type's input and output functions run.
 */
extern char *SubjectKeyCanonicalForType(const char *key, Oid typid);

/*
 * The subject argument argno of a SQL function, checked: not null, valid,
 * canonical.
 */
extern text *SubjectKeyArgument(FunctionCallInfo fcinfo, int argno);

/*
 * Keys beginning so are reserved: the ledgers name erased subjects by
 * them (pseudonym.h), and take a key that looks like one as it is.
 */
#define PSEUDONYM_PREFIX "pseudonym:"

/*
 * Serialize work on one subject: the writers of consent, intents and
 * signals take the lock shared, forget() exclusive.  Held to the end of the
 * transaction.
 */
extern void SubjectLock(const char *key, int len, bool exclusive);

/*
 * How SQL text passes a subject column (column, already quoted, after
 * qualifier) to has_consent(), may_process() or has_access(): without a
 * cast a user could have defined.
 */
extern char *SubjectArgument(const char *qualifier, const char *column, Oid typid);

/*
 * The bigint and uuid forms of a text key: the text "42" and the bigint 42
 * are the same subject when the text is the canonical output of the
 * bigint, and likewise for uuid.  Inline: has_consent() asks per row.
 */
static inline int
subject_key_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Is the text s[0..len) the canonical output of a bigint (as int8out writes
 * it)?  If so, store the value.
 */
static inline bool
SubjectKeyInt8(const char *s, int len, int64 *result)
{
	bool		neg = false;
	uint64		v = 0;
	int			i = 0;

	if (len > 0 && s[0] == '-')
	{
		neg = true;
		i = 1;
	}
	if (i >= len || len - i > 19)
		return false;
	/* no leading zeros, no "-0" */
	if (s[i] == '0' && (len - i > 1 || neg))
		return false;
	for (; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (neg)
	{
		if (v > (uint64) PG_INT64_MAX + 1)
			return false;
		*result = (int64) (0 - v);
	}
	else
	{
		if (v > (uint64) PG_INT64_MAX)
			return false;
		*result = (int64) v;
	}
	return true;
}

/*
 * Is the text the canonical output of a uuid (lower case, 8-4-4-4-12)?
 */
static inline bool
SubjectKeyUuid(const char *s, int len, pg_uuid_t *result)
{
	int			j = 0;

	if (len != 36)
		return false;
	for (int i = 0; i < 36;)
	{
		int			hi;
		int			lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = subject_key_hexval(s[i]);
		lo = subject_key_hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		result->data[j++] = (unsigned char) (hi << 4 | lo);
		i += 2;
	}
	return true;
}

#endif							/* PERSONALIZE_SUBJECT_KEY_H */
