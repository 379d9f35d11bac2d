/*-------------------------------------------------------------------------
 *
 * copies.h
 *	  The copies distribute() keeps on a Citus cluster (copies.c): written
 *	  only by the extension, their names kept in step with renames.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/copies.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_COPIES_H
#define PERSONALIZE_COPIES_H

#include "postgres.h"

/*
 * The setting personalize.writing_copies, the planner hook that refuses
 * writes to the copies from outside the extension, and the
 * utility hook that refuses TRUNCATE and COPY FROM of them and brings the
 * grants' copy up to date after a rename.
 */
extern void CopiesInit(void);

/*
 * Before the extension is dropped, on a Citus coordinator: drop the copies
 * that are Citus tables, and so their shards on every node, and the copies
 * made outside the extension (intent_by_subject, signal_by_subject), also
 * restored by pg_dump as local tables.
 */
extern void CopiesDropDistributed(void);

#endif							/* PERSONALIZE_COPIES_H */
