/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Which catalog index a statement uses: the kept one, the shared one or
 *	  a new build, with the overlay of changed offers (catalog.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_CATALOG_H
#define PERSONALIZE_MATCH_CATALOG_H

#include "postgres.h"

#include "utils/snapshot.h"

#include "match/index.h"

/* GUCs (set up by MatchInit(), match.c) */
extern int	match_cache_mem;	/* kB */
extern int	match_overlay_limit;	/* offers */

extern void MatchCatalogInit(void);
extern MatchCatalog *MatchCatalogGet(Snapshot snap, MemoryContext callcxt);
extern int64 MatchCatalogVersion(const MatchRels *r, Snapshot snap, bool *own,
								 int64 *horizon);

#endif							/* PERSONALIZE_MATCH_CATALOG_H */
