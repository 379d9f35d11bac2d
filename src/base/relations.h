/*-------------------------------------------------------------------------
 *
 * relations.h
 *	  The extension's relations, found by name and kept (relations.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/relations.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_RELATIONS_H
#define PERSONALIZE_RELATIONS_H

#include "postgres.h"

#include "base/names.h"

/*
 * One of the extension's relations (a table or an index, names.h); or
 * InvalidOid when it does not exist, as in a database at an older version.
 */
extern Oid	PersonalizeRelid(const char *relname);
extern Oid	PersonalizeRelidIfExists(const char *relname);

/*
 * The relation this node reads for one of them: the relation itself, or
 * on a Citus worker the node's shard of its copy (an error naming Citus and
 * distribute() when there is none; what names the reader).  IfExists:
 * InvalidOid when the relation does not exist, as in a database at an
 * older version.
 */
extern Oid	PersonalizeReadRelid(const char *relname, const char *what);
extern Oid	PersonalizeReadRelidIfExists(const char *relname, const char *what);

/* does this node read the copies (a Citus worker node)? */
extern bool PersonalizeReadsCopies(void);

/*
 * Changes whenever a relation found here may have changed: a reader's
 * derived facts (attribute numbers, its own table of OIDs) kept under an
 * older value are looked up again.
 */
extern uint64 PersonalizeRelationsEpoch(void);

#endif							/* PERSONALIZE_RELATIONS_H */
