/*-------------------------------------------------------------------------
 *
 * shared.h
 *	  One offer catalog index for every backend of a database, in a dynamic
 *	  shared memory segment (shared.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/shared.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_SHARED_H
#define PERSONALIZE_MATCH_SHARED_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/snapshot.h"

#include "match/index.h"

/* GUC (set up by MatchInit(), match.c) */
extern int	match_shared_mem;	/* kB */

typedef struct MatchSharedInfo
{
	bool		valid;
	int64		version;
	Size		size;
	double		build_ms;
	TimestampTz built_at;
	int64		builds;
	Size		total;			/* every database's shared indexes */
} MatchSharedInfo;

extern void MatchSharedInit(void);
extern bool MatchSharedAvailable(void);
extern Size MatchSharedShmemSize(void);
extern void MatchSharedShmemInit(void);
extern bool MatchSharedCanBuild(void);
extern MatchCatalog *MatchSharedBuild(const MatchRels *r, Snapshot snap, int64 version,
									  MemoryContext parent);
extern int64 MatchSharedVersion(const MatchRels *r);
extern MatchCatalog *MatchSharedAttach(const MatchRels *r, int64 *version);
extern bool MatchSharedPublish(MatchCatalog *cat);
extern void MatchSharedBuildLock(void);
extern bool MatchSharedBuildLockTry(void);
extern void MatchSharedBuildUnlock(void);
extern void MatchSharedGetInfo(const MatchRels *r, MatchSharedInfo *info);

#endif							/* PERSONALIZE_MATCH_SHARED_H */
