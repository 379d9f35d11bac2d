/*-------------------------------------------------------------------------
 *
 * kept.h
 *	  Reads kept between statements (kept.c): may rows read under one
 *	  snapshot be reused under another?
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/kept.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_KEPT_H
#define PERSONALIZE_KEPT_H

#include "postgres.h"

#include "utils/snapshot.h"

/* with shared_preload_libraries: the ring's shared memory */
extern void KeptInit(void);

/*
 * What a snapshot sees of the transactions that wrote a kept table (one
 * with the kept_read_changed trigger: access_grant, purpose, consent)
 * lately.  Rows read under one snapshot hold for another when both states
 * are equal.  False: keep nothing read under this snapshot.
 */
typedef struct KeptRead
{
	uint64		gen;
	uint64		running;
} KeptRead;

extern bool KeptReadState(Snapshot snap, KeptRead *state);

/*
 * Could a transaction other than ours that wrote one of those tables in
 * this database still be running for snap?  False only when none can.
 */
extern bool KeptWriterRunning(Snapshot snap);

static inline bool
KeptReadSame(const KeptRead *a, const KeptRead *b)
{
	return a->gen == b->gen && a->running == b->running;
}

#endif							/* PERSONALIZE_KEPT_H */
