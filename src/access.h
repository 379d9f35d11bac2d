/*-------------------------------------------------------------------------
 *
 * access.h
 *	  Least privilege: protected tables and time-limited access grants
 *	  (access.c); has_access() itself is in consent.c.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/access.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_ACCESS_H
#define PERSONALIZE_ACCESS_H

#include "datatype/timestamp.h"
#include "utils/snapshot.h"

extern void AccessInit(void);

/*
 * The purposes for which the current role (user, and outer, the role that
 * called a SECURITY DEFINER function, when it differs) holds active grants
 * on a table at time "at", read through snap; each with the grant that
 * covers user.  Allocated in the current memory context.
 */
typedef struct AccessGrants
{
	int			n;
	int32	   *purpose_ids;
	int64	   *grant_ids;
} AccessGrants;

extern AccessGrants *AccessLoadGrants(Oid relid, Snapshot snap, TimestampTz at,
									  Oid user, Oid outer);

/*
 * Reads kept between statements (access.c): what a snapshot sees of the
 * transactions that wrote access_grant or purpose lately.  Rows read under
 * one snapshot hold for another when both states are equal.  False: keep
 * nothing read under this snapshot.
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

/* a statement read rows through the grant (counted in shared memory) */
extern void AccessNoteUse(int64 grant_id);

/*
 * personalize's own statements on a protected table, as its owner (the
 * erasure and export of one subject, the purge of expired rows), see the
 * rows they act on even when FORCE ROW LEVEL SECURITY binds the owner:
 * has_access() answers true for the rows of that table (and subject, when
 * not NULL) until AccessBypassEnd(), or the end of the (sub)transaction.
 */
extern void AccessBypassBegin(Oid relid, const char *subject);
extern void AccessBypassEnd(void);
extern bool AccessBypassActive(Oid relid);
extern bool AccessBypassed(Oid relid, const char *subject, int len);

/*
 * Is the table protected by protect() (false in a database older than
 * 0.2.0)?  Do its row level security policies all come from protect()?
 */
extern bool AccessTableProtected(Oid relid);
extern bool AccessOnlyOurPolicies(Oid relid);

#endif							/* PERSONALIZE_ACCESS_H */
