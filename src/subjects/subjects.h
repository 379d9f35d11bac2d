/*-------------------------------------------------------------------------
 *
 * subjects.h
 *	  Registered subject tables, and the subject's rights: export and
 *	  erasure (subjects.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/subjects/subjects.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_SUBJECTS_H
#define PERSONALIZE_SUBJECTS_H

#include "postgres.h"

#include "access/attnum.h"
#include "nodes/pg_list.h"

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

/*
 * Every registered table, in an order safe for deleting: a table that
 * references another registered table (a foreign key) comes before it.
 */
extern List *SubjectTablesLoad(void);

/*
 * The subject's key as a value of the table's subject column; false when
 * the key is not a value of that type: then no row of the table is the
 * subject's.
 */
extern bool SubjectTableValue(const SubjectTable *t, const char *subject, Datum *value);

#endif							/* PERSONALIZE_SUBJECTS_H */
