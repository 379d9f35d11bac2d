/*-------------------------------------------------------------------------
 *
 * shared.c
 *	  One offer catalog index for every backend of a database: a dynamic
 *	  shared memory segment per database, published in a small table in
 *	  the server's shared memory.
 *
 * When the library is preloaded, the first match() that needs an index
 * builds it under the database's build lock (a heavyweight lock, so that a
 * waiter can be cancelled and a deadlock is detected; it is released at
 * the end of the build, and by any error), lays it out flat in a new
 * segment, pins the segment (so that it outlives the backends) and
 * publishes its handle; every other backend maps it read-only and keeps
 * the mapping.  A newer build replaces it: the old segment is unpinned,
 * and goes away when the last backend still mapping it moves on (or ends).
 *
 * Nothing here needs cleaning after a crash: a backend killed while
 * building holds only its heavyweight lock and a segment nobody knows of,
 * and the postmaster's restart after a backend crash reinitializes shared
 * memory and removes every segment.  A backend that fails to get a
 * segment (no free slot, out of shared memory, or past
 * personalize.match_shared_mem) says so with a WARNING, and its index is
 * private, as without preloading.  So is the index of a statement that
 * cannot start the subtransaction a segment is created in (a parallel
 * operation before PostgreSQL 17), without a WARNING: nothing is short.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/shared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "access/xact.h"
#include "port/atomics.h"
#include "storage/dsm.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "match/shared.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"
#include "match/index.h"

/* GUC */
int			match_shared_mem = 1024 * 1024; /* kB */

/* databases with a shared index at once */
#define MATCH_SHARED_SLOTS	32
/* the lock class of the build lock among advisory locks (1 and 2 are SQL's) */
#define MATCH_BUILD_LOCK_CLASS 0x5053

typedef struct MatchSharedSlot
{
	Oid			dboid;			/* InvalidOid: free */
	Oid			version_relid;	/* the extension's version table */
	int64		version;
	dsm_handle	handle;
	Size		size;
	double		build_ms;
	TimestampTz built_at;
	int64		builds;
} MatchSharedSlot;

typedef struct MatchShared
{
	LWLock	   *lock;
	Size		total;			/* bytes of the published segments */
	MatchSharedSlot slots[MATCH_SHARED_SLOTS];
} MatchShared;

static MatchShared *mshared = NULL;

/* a segment created and not yet handed to a catalog: detached on abort */
static dsm_segment *pending_seg = NULL;
static bool warned_full = false;

Size
MatchSharedShmemSize(void)
{
	return MAXALIGN(sizeof(MatchShared));
}

void
MatchSharedShmemInit(void)
{
	bool		found;

	mshared = ShmemInitStruct("personalize match index", sizeof(MatchShared), &found);
	if (!found)
	{
		memset(mshared, 0, sizeof(MatchShared));
		mshared->lock = &(GetNamedLWLockTranche("personalize match index"))->lock;
	}
}

/* a segment created and not handed to a catalog goes with an abort */
static void
detach_pending(void)
{
	if (pending_seg != NULL)
	{
		dsm_segment *seg = pending_seg;

		pending_seg = NULL;
		dsm_detach(seg);
	}
}

static void
match_shared_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_ABORT)
		detach_pending();
}

static void
match_shared_subxact_callback(SubXactEvent event, SubTransactionId mySubid pg_attribute_unused(),
							  SubTransactionId parentSubid pg_attribute_unused(),
							  void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		detach_pending();
}

void
MatchSharedInit(void)
{
	RegisterXactCallback(match_shared_xact_callback, NULL);
	RegisterSubXactCallback(match_shared_subxact_callback, NULL);
}

bool
MatchSharedAvailable(void)
{
	return mshared != NULL && !IsBinaryUpgrade;
}

/* this database's slot, or NULL; with the lock held */
static MatchSharedSlot *
find_slot(void)
{
	for (int i = 0; i < MATCH_SHARED_SLOTS; i++)
		if (mshared->slots[i].dboid == MyDatabaseId)
			return &mshared->slots[i];
	return NULL;
}

/* the version of the shared index of this database's extension, or -1 */
int64
MatchSharedVersion(const MatchRels *r)
{
	MatchSharedSlot *slot;
	int64		version = -1;

	if (!MatchSharedAvailable())
		return -1;
	LWLockAcquire(mshared->lock, LW_SHARED);
	slot = find_slot();
	if (slot != NULL && slot->version_relid == r->version_relid)
		version = slot->version;
	LWLockRelease(mshared->lock);
	return version;
}

/*
 * Map the shared index of this database, if there is one: a catalog (under
 * CurrentMemoryContext) over the segment, mapped until MatchCatalogFree().
 */
MatchCatalog *
MatchSharedAttach(const MatchRels *r, int64 *version)
{
	MatchSharedSlot *slot;
	dsm_segment *seg = NULL;
	MatchCatalog *cat;

	*version = -1;
	if (!MatchSharedAvailable())
		return NULL;

	/* attach under the lock: a replacement unpins the old segment under it */
	LWLockAcquire(mshared->lock, LW_SHARED);
	slot = find_slot();
	if (slot != NULL && slot->version_relid == r->version_relid)
	{
		*version = slot->version;
		seg = dsm_find_mapping(slot->handle) ? NULL : dsm_attach(slot->handle);
	}
	LWLockRelease(mshared->lock);
	if (seg == NULL)
	{
		*version = -1;
		return NULL;
	}
	dsm_pin_mapping(seg);
	pending_seg = seg;
	cat = MatchCatalogView(dsm_segment_address(seg), CurrentMemoryContext);
	cat->seg = seg;
	pending_seg = NULL;
	return cat;
}

typedef struct CreateArgs
{
	Size		size;
	dsm_segment *seg;
} CreateArgs;

static void
create_segment(void *arg)
{
	CreateArgs *a = (CreateArgs *) arg;

	a->seg = dsm_create(a->size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (a->seg != NULL)
		dsm_pin_mapping(a->seg);
}

/* the WARNING of a shared index that cannot be had */
static void
warn_private(const char *detail)
{
	ereport(WARNING,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("the offer catalog index cannot be shared"),
			 errdetail_internal("%s", detail),
			 errhint("This session keeps a private copy. Raise personalize.match_shared_mem, or free shared memory.")));
}

/*
 * Can a new segment be created now?  It is created in a subtransaction, so
 * that a failure leaves a private index rather than an error.
 */
bool
MatchSharedCanBuild(void)
{
	return PersonalizeSubtransactionAllowed();
}

/*
 * A new segment of size bytes for a catalog, mapped for the session, or
 * NULL (with a WARNING) when it cannot be had.
 */
static dsm_segment *
segment_create(Size size, char **addr)
{
	CreateArgs	a;
	ErrorData  *edata;
	MatchSharedSlot *slot;
	Size		others;

	LWLockAcquire(mshared->lock, LW_SHARED);
	slot = find_slot();
	others = mshared->total - (slot ? slot->size : 0);
	LWLockRelease(mshared->lock);
	if (others + size > (Size) match_shared_mem * 1024)
	{
		warn_private(psprintf("The index needs %zu kB; personalize.match_shared_mem allows %d kB, of which other databases use %zu kB.",
							  (size + 1023) / 1024, match_shared_mem, (others + 1023) / 1024));
		return NULL;
	}

	a.size = size;
	a.seg = NULL;
	edata = TryInSubtransaction(create_segment, &a);
	if (edata != NULL)
	{
		warn_private(psprintf("Creating a segment of %zu kB failed: %s", (size + 1023) / 1024,
							  edata->message));
		FreeErrorData(edata);
		return NULL;
	}
	if (a.seg == NULL)
	{
		warn_private("The server has no dynamic shared memory segment left.");
		return NULL;
	}
	pending_seg = a.seg;
	*addr = dsm_segment_address(a.seg);
	return a.seg;
}

/*
 * Build the catalog index through the snapshot and lay it out flat in a
 * new segment, mapped for the session (the catalog under parent); or NULL,
 * with a WARNING, when no segment can be had.
 */
MatchCatalog *
MatchSharedBuild(const MatchRels *r, Snapshot snap, int64 version, MemoryContext parent)
{
	MatchBuild *build = MatchBuildStart(r, snap, version);
	dsm_segment *seg;
	char	   *blob;
	MatchCatalog *cat;

	seg = segment_create(MatchBuildSize(build), &blob);
	if (seg == NULL)
	{
		MatchBuildCancel(build);
		return NULL;
	}
	cat = MatchBuildFinish(build, blob, parent);
	cat->seg = seg;
	return cat;
}

/*
 * Publish cat (in a segment from MatchSharedBuild) as this database's
 * shared index, unless a newer one is published.  The segment is pinned,
 * and the one it replaces unpinned.
 */
bool
MatchSharedPublish(MatchCatalog *cat)
{
	MatchSharedSlot *slot;
	dsm_segment *seg = (dsm_segment *) cat->seg;
	bool		done = false;

	Assert(seg != NULL);
	pending_seg = NULL;
	LWLockAcquire(mshared->lock, LW_EXCLUSIVE);
	slot = find_slot();
	if (slot == NULL)
	{
		for (int i = 0; i < MATCH_SHARED_SLOTS && slot == NULL; i++)
			if (mshared->slots[i].dboid == InvalidOid)
				slot = &mshared->slots[i];
		/* none free: take one of a database that was dropped */
		for (int i = 0; i < MATCH_SHARED_SLOTS && slot == NULL; i++)
		{
			MatchSharedSlot *s = &mshared->slots[i];

			if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(s->dboid)))
			{
				if (s->handle != DSM_HANDLE_INVALID)
				{
					dsm_unpin_segment(s->handle);
					mshared->total -= s->size;
				}
				slot = s;
			}
		}
		if (slot != NULL)
		{
			slot->dboid = MyDatabaseId;
			slot->version_relid = InvalidOid;
			slot->handle = DSM_HANDLE_INVALID;
			slot->size = 0;
			slot->builds = 0;
		}
	}
	if (slot != NULL &&
		(slot->version_relid != cat->version_relid || slot->version < cat->version ||
		 slot->handle == DSM_HANDLE_INVALID))
	{
		if (slot->handle != DSM_HANDLE_INVALID)
		{
			dsm_unpin_segment(slot->handle);
			mshared->total -= slot->size;
		}
		dsm_pin_segment(seg);
		slot->version_relid = cat->version_relid;
		slot->version = cat->version;
		slot->handle = dsm_segment_handle(seg);
		slot->size = cat->blob_size;
		slot->build_ms = cat->build_ms;
		slot->built_at = cat->built_at;
		slot->builds++;
		mshared->total += cat->blob_size;
		done = true;
	}
	LWLockRelease(mshared->lock);
	if (slot == NULL && !warned_full)
	{
		warned_full = true;
		warn_private(psprintf("Shared indexes exist for %d databases, the most the server keeps.",
							  MATCH_SHARED_SLOTS));
	}
	return done;
}

static void
build_locktag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, PersonalizeExtensionOid(),
						 MatchRelsGet()->version_relid, MATCH_BUILD_LOCK_CLASS);
}

/* wait for, and take, the database's build lock */
void
MatchSharedBuildLock(void)
{
	LOCKTAG		tag;

	build_locktag(&tag);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* take the build lock if nobody holds it */
bool
MatchSharedBuildLockTry(void)
{
	LOCKTAG		tag;

	build_locktag(&tag);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

void
MatchSharedBuildUnlock(void)
{
	LOCKTAG		tag;

	build_locktag(&tag);
	LockRelease(&tag, ExclusiveLock, false);
}

void
MatchSharedGetInfo(const MatchRels *r, MatchSharedInfo *info)
{
	MatchSharedSlot *slot;

	memset(info, 0, sizeof(MatchSharedInfo));
	if (!MatchSharedAvailable())
		return;
	LWLockAcquire(mshared->lock, LW_SHARED);
	slot = find_slot();
	if (slot != NULL && slot->version_relid == r->version_relid &&
		slot->handle != DSM_HANDLE_INVALID)
	{
		info->valid = true;
		info->version = slot->version;
		info->size = slot->size;
		info->build_ms = slot->build_ms;
		info->built_at = slot->built_at;
		info->builds = slot->builds;
	}
	info->total = mshared->total;
	LWLockRelease(mshared->lock);
}
