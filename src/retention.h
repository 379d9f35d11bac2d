/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Retention rules and the purge engine (retention.c), and the
 *	  background worker (worker.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/retention.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_RETENTION_H
#define PERSONALIZE_RETENTION_H

#include "nodes/pg_list.h"
#include "utils/memutils.h"

typedef struct PurgeRule PurgeRule;
typedef struct PurgeRun PurgeRun;

/*
 * Ends the current batch's transaction and starts the next one; with pause,
 * calls RetentionPause() in between, outside any transaction.
 */
typedef void (*RetentionCommitFn) (void *arg, bool pause);

extern int	max_retention_s;
extern int	purge_batch_size;
extern int	purge_max_batch_ms;
extern int	purge_log_keep_s;
extern int	purge_batch_delay;
extern int	worker_purge_batch_delay;

extern void RetentionInit(void);
extern List *RetentionRules(Oid only_relid, MemoryContext cxt);
extern int64 RetentionPurgeRule(PurgeRule *rule, const char *started_by,
								MemoryContext runcxt, RetentionCommitFn commit,
								void *commit_arg, PurgeRun **run_out);
extern void RetentionRecordFailure(PurgeRun *run, const char *message);
extern void RetentionMarkInterrupted(void);
extern void RetentionPause(void);
extern Oid	RetentionRuleRelid(PurgeRule *rule);

/* worker.c */
extern void WorkerInit(void);

#endif							/* PERSONALIZE_RETENTION_H */
