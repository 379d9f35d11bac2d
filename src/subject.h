/*-------------------------------------------------------------------------
 *
 * subject.h
 *	  Subject keys and registered subject tables (subject.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/subject.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_SUBJECT_H
#define PERSONALIZE_SUBJECT_H

#include "access/attnum.h"

/*
 * The rules of a subject key, in one place.  A key is text that is not
 * empty, contains no control character and neither begins nor ends with
 * white space (Unicode's included).  Every function that records or acts on
 * a subject refuses a key that breaks them; has_consent() and match()
 * answer for it as for a subject nobody recorded anything about.
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
 * A registered table, as the paths that read or erase it as its owner need
 * it.  SubjectTableGet() returns NULL when the table is not registered, and
 * an error when it no longer is the table it was registered as.
 */
typedef struct SubjectTable
{
	Oid			relid;
	Oid			owner;
	char	   *qualname;		/* schema-qualified, quoted where needed */
	char	   *colname;
	AttrNumber	attnum;
	Oid			typid;			/* the column's type, domains resolved */
	char	   *eqop;			/* OPERATOR(schema.=) for that type */
} SubjectTable;

extern SubjectTable *SubjectTableGet(Oid relid);

#endif							/* PERSONALIZE_SUBJECT_H */
