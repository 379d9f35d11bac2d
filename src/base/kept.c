/*-------------------------------------------------------------------------
 *
 * kept.c
 *	  Reads kept between statements: which transactions wrote the tables
 *	  whose rows has_consent(), may_process() and has_access() keep per
 *	  backend, so that a kept read is reused only when the statement's
 *	  snapshot provably sees the same rows.
 *
 * has_access() and has_consent() read, in every statement, a few rows that
 * change rarely: a table's grants, a purpose and its parents.  Read once
 * per statement, they would cost a point select more than the rest of the
 * check, so they are kept between statements (per backend) and reused only
 * when the statement's snapshot provably sees the same versions of those
 * tables as the snapshot they were read with.
 *
 * Every transaction that writes one of them (access_grant, purpose,
 * consent) registers here before it can commit, from a statement trigger
 * (_kept_read_changed(), which also fires for cascades and TRUNCATE), and
 * in a logical replication subscription's apply worker, which fires row
 * triggers only, from the row form of the same trigger.  Rows
 * read under snapshot S1 still hold for S2 when no transaction registered
 * in between, and every registered transaction is in progress for S2
 * exactly when it was for S1 (both see its commit, or neither does); the
 * transactions pushed out of the ring precede S2's xmin.  Nothing is kept
 * in a transaction that wrote those tables itself, during recovery (a
 * standby's changes come from the primary) or without shared memory.
 *
 * The ring lives in shared memory (with shared_preload_libraries); without
 * it nothing is kept.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/kept.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/snapmgr.h"

#include "base/kept.h"

PG_FUNCTION_INFO_V1(personalize_kept_read_changed);

/*
 * The transactions that wrote a kept table lately (see KeptReadState()):
 * the g-th to register is in writers[g % KEPT_WRITERS] while g > gen -
 * KEPT_WRITERS; evicted_newest is the newest xid pushed out of the ring.
 */
#define KEPT_WRITERS		64
StaticAssertDecl(KEPT_WRITERS <= 64, "KeptRead.running has a bit per ring entry");

typedef struct KeptWriter
{
	Oid			dbid;
	TransactionId xid;
} KeptWriter;

typedef struct KeptShared
{
	LWLock	   *lock;			/* everything below */
	uint64		gen;
	TransactionId evicted_newest;
	KeptWriter	writers[KEPT_WRITERS];
} KeptShared;

static KeptShared *kept = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
kept_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(KeptShared)));
	RequestNamedLWLockTranche("personalize kept reads", 1);
}

static void
kept_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	kept = ShmemInitStruct("personalize kept reads", sizeof(KeptShared), &found);
	if (!found)
	{
		memset(kept, 0, sizeof(KeptShared));
		kept->lock = &(GetNamedLWLockTranche("personalize kept reads"))[0].lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * With shared_preload_libraries: ask for the ring's shared memory.
 */
void
KeptInit(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = kept_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = kept_shmem_startup;
}

/* the top transaction that last registered, in this backend */
static TransactionId registered_writer = InvalidTransactionId;

Datum
personalize_kept_read_changed(PG_FUNCTION_ARGS)
{
	TransactionId xid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_kept_read_changed() must be called as a trigger")));

	/*
	 * A logical replication subscription's apply worker fires row triggers
	 * only: the row form (enabled for replicas) registers its transaction,
	 * and anywhere else leaves it to the statement form.
	 */
	if (TRIGGER_FIRED_FOR_ROW(((TriggerData *) fcinfo->context)->tg_event) &&
		!IsLogicalWorker())
		return PointerGetDatum(NULL);
	xid = GetTopTransactionId();
	if (TransactionIdEquals(xid, registered_writer))
		return PointerGetDatum(NULL);
	registered_writer = xid;
	if (kept != NULL)
	{
		KeptWriter *w;

		LWLockAcquire(kept->lock, LW_EXCLUSIVE);
		w = &kept->writers[kept->gen % KEPT_WRITERS];
		if (TransactionIdIsValid(w->xid) &&
			(!TransactionIdIsValid(kept->evicted_newest) ||
			 TransactionIdFollows(w->xid, kept->evicted_newest)))
			kept->evicted_newest = w->xid;
		w->dbid = MyDatabaseId;
		w->xid = xid;
		kept->gen++;
		LWLockRelease(kept->lock);
	}
	return PointerGetDatum(NULL);
}

/*
 * Copy the ring's writers that snap may not have seen finish: those of this
 * database that do not precede its xmin.  Returns the number of entries
 * filled (writers[i] is ring entry i, xid invalid when it is skipped), and
 * false in *complete when a writer pushed out of the ring may be one.
 */
static int
ring_copy(Snapshot snap, KeptWriter *writers, uint64 *gen, bool *complete)
{
	TransactionId evicted;
	int			valid;

	LWLockAcquire(kept->lock, LW_SHARED);
	*gen = kept->gen;
	evicted = kept->evicted_newest;
	memcpy(writers, kept->writers, sizeof(KeptWriter) * KEPT_WRITERS);
	LWLockRelease(kept->lock);

	*complete = !TransactionIdIsValid(evicted) || TransactionIdPrecedes(evicted, snap->xmin);
	valid = (int) Min(*gen, (uint64) KEPT_WRITERS);
	for (int i = 0; i < valid; i++)
		if (writers[i].dbid != MyDatabaseId ||
			TransactionIdPrecedes(writers[i].xid, snap->xmin))
			writers[i].xid = InvalidTransactionId;	/* finished for every snapshot this one's age */
	return valid;
}

bool
KeptReadState(Snapshot snap, KeptRead *state)
{
	KeptWriter writers[KEPT_WRITERS];
	uint64		g;
	bool		complete;
	int			valid;

	/* our own transaction registered when it wrote (the trigger) */
	if (kept == NULL || snap->snapshot_type != SNAPSHOT_MVCC ||
		snap->takenDuringRecovery ||
		(TransactionIdIsValid(registered_writer) &&
		 TransactionIdEquals(registered_writer, GetTopTransactionIdIfAny())))
		return false;
	valid = ring_copy(snap, writers, &g, &complete);
	if (!complete)
		return false;
	state->gen = g;
	state->running = 0;
	for (int i = 0; i < valid; i++)
		if (TransactionIdIsValid(writers[i].xid) && XidInMVCCSnapshot(writers[i].xid, snap))
			state->running |= UINT64CONST(1) << i;
	return true;
}

bool
KeptWriterRunning(Snapshot snap)
{
	KeptWriter writers[KEPT_WRITERS];
	uint64		g;
	bool		complete;
	int			valid;

	if (kept == NULL)
		return true;
	valid = ring_copy(snap, writers, &g, &complete);
	/* a writer pushed out of the ring may still run */
	if (!complete)
		return true;
	for (int i = 0; i < valid; i++)
	{
		if (!TransactionIdIsValid(writers[i].xid) ||
			TransactionIdIsCurrentTransactionId(writers[i].xid))
			continue;
		if (XidInMVCCSnapshot(writers[i].xid, snap))
			return true;
	}
	return false;
}
