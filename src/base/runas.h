/*-------------------------------------------------------------------------
 *
 * runas.h
 *	  Running as another role (runas.c): a table owner's code as its owner,
 *	  the extension's own statements as the extension's owner, and errors
 *	  that must not stop a loop.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/runas.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_RUNAS_H
#define PERSONALIZE_RUNAS_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

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

#endif							/* PERSONALIZE_RUNAS_H */
