/*-------------------------------------------------------------------------
 *
 * common.h
 *	  The layer every module of personalize builds on (common.c): where the
 *	  extension and its relations are, running as another role, statements
 *	  on the extension's own tables, and errors that must not stop a loop.
 *
 * The direction is one way: modules include common.h; common.c includes
 * no module header.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_COMMON_H
#define PERSONALIZE_COMMON_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"

#include "compat.h"
#include "names.h"

/* ---------- the extension and its objects ---------- */

/* OID, schema and owner of the installed extension; an error if absent */
extern Oid	PersonalizeExtensionOid(void);
extern Oid	PersonalizeSchemaOid(void);
extern Oid	PersonalizeExtensionOwner(void);

/* one of the extension's relations (names.h), types and columns, by name */
extern Oid	PersonalizeRelid(const char *relname);
extern Oid	PersonalizeTypeOid(const char *typname);
extern AttrNumber PersonalizeAttnum(Oid relid, const char *colname);

/* the owner of a relation; an error if it does not exist */
extern Oid	RelationOwnerOid(Oid relid);

/* a superuser's restore of pg_dump output (check_function_bodies = off) */
extern bool PersonalizeTrustedRestore(void);

/* ---------- Citus: never a wrong answer ---------- */

/*
 * An error that names Citus when what (a function's name) runs on a Citus
 * worker node, where it would act on the node's local tables, which
 * nothing reads (consequence: what would happen, for the detail), or is
 * asked to act on a Citus table it does not support.  Without the citus
 * extension in the database, nothing is checked.
 */
extern void PersonalizeRefuseCitusWorker(const char *what, const char *consequence);
extern void PersonalizeRefuseCitusTable(Oid relid, const char *what);

/* what kind of Citus table relid is (none without the citus extension) */
typedef enum CitusTableKind
{
	CITUS_NONE,					/* not a Citus table */
	CITUS_DISTRIBUTED,			/* hash-distributed */
	CITUS_REFERENCE,			/* a copy on every node */
	CITUS_OTHER					/* append, range, a Citus local table ... */
} CitusTableKind;

extern CitusTableKind PersonalizeCitusTableKind(Oid relid);

/* the Citus colocation group of a Citus table, -1 for any other */
extern int64 PersonalizeCitusColocation(Oid relid);

/* is this a Citus worker node (citus installed, a group other than 0)? */
extern bool PersonalizeOnCitusWorker(void);

/*
 * On a Citus worker: this node's shard of the extension's reference table
 * table (names.h), or of its index index (the same name with the shard's
 * number appended, as Citus names them).  An error that names Citus and
 * distribute() when the table is not a reference table, or has no shard
 * on this node.
 */
extern Oid	PersonalizeCitusShardRelid(const char *table, const char *index,
									   const char *what);

/*
 * On a Citus worker: has another backend of this statement's distributed
 * transaction written one of relids (a node's shards of the copies) and
 * not committed?  Its change is then invisible here: Citus writes the
 * copies over a connection of the role that runs the replication trigger,
 * and runs a statement of another role, or the tasks of one that Citus
 * spreads over several connections to the node, over others.  Asks
 * Citus's and PostgreSQL's views (an SPI query).
 */
extern bool PersonalizeCitusPeerWrote(const Oid *relids, int nrelids);

/* ---------- running as another role ---------- */

/*
 * What BeginRunAs saved, for EndRunAs.  An error in between needs no
 * cleanup: the (sub)transaction abort restores the user, the security
 * context and every setting.
 */
typedef struct RunAs
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} RunAs;

/*
 * Act as role, in a restricted security context, with a GUC nest level of
 * its own and search_path = pg_catalog, pg_temp, until EndRunAs, which
 * undoes every setting changed in between (even session-level ones).  The
 * one way personalize runs code of another role: its own statements as the
 * extension's owner, and a table owner's code (triggers, rules, defaults,
 * casts, conditions) as that owner, as PostgreSQL runs VACUUM and REFRESH
 * MATERIALIZED VIEW.
 */
extern void BeginRunAs(RunAs *ra, Oid role);
extern void EndRunAs(RunAs *ra);

/* ---------- statements on the extension's own tables ---------- */

/* called for each result row, in the caller's memory context */
typedef void (*ExtRowFn) (HeapTuple tuple, TupleDesc desc, void *arg);

/*
 * Run one statement as role (BeginRunAs), in a SPI connection of its own;
 * rows go to row_fn.  Returns the number of rows processed.  Values are
 * always parameters; identifiers in the SQL are quoted by the caller.
 */
extern uint64 RoleExecute(Oid role, const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only,
						  ExtRowFn row_fn, void *arg);

/*
 * The same for a query whose rows may not fit in memory: read through a
 * cursor, a thousand rows at a time, each passed to row_fn (read-only).
 */
extern uint64 RoleExecuteCursor(Oid role, const char *sql, int nargs, Oid *argtypes,
								Datum *values, const char *nulls,
								ExtRowFn row_fn, void *arg);

/*
 * The same as the extension's owner, for fixed, fully qualified statements
 * on the extension's own tables, which no caller may touch directly.
 */
extern uint64 ExtExecute(const char *sql, int nargs, Oid *argtypes,
						 Datum *values, const char *nulls, bool read_only,
						 ExtRowFn row_fn, void *arg);

/*
 * The first column of the first row of such a statement, copied into the
 * caller's memory context: as a Datum (isnull set when NULL or no row), or
 * as text (NULL when NULL or no row).
 */
extern Datum RoleValue(Oid role, const char *sql, int nargs, Oid *argtypes,
					   Datum *values, const char *nulls, bool read_only,
					   bool *isnull);
extern Datum ExtValue(const char *sql, int nargs, Oid *argtypes,
					  Datum *values, const char *nulls, bool read_only,
					  bool *isnull);
extern char *ExtValueText(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only);

/* ---------- errors that must not stop a loop ---------- */

/*
 * Run fn(arg) in a subtransaction of the current transaction.  Returns NULL
 * if it succeeded; otherwise rolls the subtransaction back (its writes, its
 * locks, its user switch, its settings and snapshots) and returns the error,
 * copied into the caller's memory context, for the caller to record.  fn
 * must not commit.
 */
extern ErrorData *TryInSubtransaction(void (*fn) (void *arg), void *arg);

/*
 * Report an error caught by TryInSubtransaction as a WARNING that keeps its
 * SQLSTATE, message, detail and hint: "<what>: <message>".  note, if not
 * NULL, is a sentence added to the detail.
 */
extern void WarnFailure(const ErrorData *edata, const char *what,
						const char *note);

#endif							/* PERSONALIZE_COMMON_H */
