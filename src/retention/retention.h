/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Retention rules and the purge engine (retention.c), shared by
 *	  purge(), run_purge(), run_maintenance() and the background worker.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/retention/retention.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_RETENTION_H
#define PERSONALIZE_RETENTION_H

#include "nodes/pg_list.h"
#include "utils/elog.h"
#include "utils/memutils.h"

typedef struct PurgeRule PurgeRule;

/*
 * Ends the current batch's transaction and starts the next one; with pause,
 * calls RetentionPause() in between, outside any transaction.
 */
typedef void (*RetentionCommitFn) (void *arg, bool pause);

extern void RetentionInit(void);

/* the rules to run (one table's, or all), read as the extension's owner */
extern List *RetentionRules(Oid only_relid, MemoryContext cxt);
extern Oid	RetentionRuleRelid(const PurgeRule *rule);

/*
 * Purge one rule.  Without commit, in the current transaction, as purge()
 * does (a failure rolls the whole rule back); with commit, one transaction
 * per batch, as run_purge() and the worker do (a failure rolls back its
 * batch only).  Every batch runs in a subtransaction, so that a failure
 * leaves the transaction usable: it is recorded in the purge log and on the
 * rule, and returned (NULL on success) for the caller to report.  *rows
 * gets the rows deleted.  With commit, the caller holds a (non-atomic) SPI
 * connection across the commits; without, none is needed.
 */
extern ErrorData *RetentionRun(PurgeRule *rule, const char *started_by,
							   MemoryContext runcxt, RetentionCommitFn commit,
							   void *commit_arg, int64 *rows);

/* purge(NULL): every rule, in the current transaction; rows deleted */
extern int64 RetentionPurgeAll(const char *started_by);

/* mark runs cut short by a crash or shutdown; at the start of a pass */
extern void RetentionMarkInterrupted(void);

/* the pause between two committed batches */
extern void RetentionPause(void);

#endif							/* PERSONALIZE_RETENTION_H */
