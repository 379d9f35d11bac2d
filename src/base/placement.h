/*-------------------------------------------------------------------------
 *
 * placement.h
 *	  Intents and signals placed with the application's customers on a
 *	  Citus cluster (placement.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/placement.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_PLACEMENT_H
#define PERSONALIZE_PLACEMENT_H

#include "postgres.h"

/*
 * Can the subject (len bytes, not terminated) be a key of type typid
 * (bigint, integer, uuid, text), exactly as the type's input function
 * reads it and with the same value?  Stricter than the input functions:
 * no blanks, no other notations.
 */
extern bool PersonalizeSubjectKeyParses(const char *subject, int len, Oid typid);

/*
 * On a Citus worker: this node's shard of the copy relid (table, with its
 * index index; names.h), distributed by subject_key, that holds the
 * subject's rows, and the shard's index.  False when the subject cannot
 * be a key of the copy's type, and so has no rows.  An error that names
 * Citus when the shard is on another node: what (a function's name)
 * cannot read it here.
 */
extern bool PersonalizeSubjectShard(Oid relid, const char *table, const char *index,
									const char *subject, int len,
									Oid *shard, Oid *shard_index, const char *what);

#endif							/* PERSONALIZE_PLACEMENT_H */
