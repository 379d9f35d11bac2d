/*-------------------------------------------------------------------------
 *
 * overlay.h
 *	  The overlay: the offers changed since the base index was built, read
 *	  from the change log (overlay.c).  Its types are in index.h, which an
 *	  offer reference of the overlay goes through.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/overlay.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_OVERLAY_H
#define PERSONALIZE_MATCH_OVERLAY_H

#include "postgres.h"

#include "utils/snapshot.h"

#include "match/index.h"

typedef enum OverlayResult
{
	OVERLAY_OK,
	OVERLAY_REBUILD				/* the change log cannot bring the base up to date */
} OverlayResult;

extern OverlayResult MatchOverlayGet(MatchCatalog *base, const MatchRels *r, Snapshot snap,
									 int64 version, bool own, int64 horizon,
									 MemoryContext callcxt, const MatchOverlay **out);
extern void MatchOverlayForget(void);
extern const MatchOverlay *MatchOverlayKept(const MatchCatalog *base);

#endif							/* PERSONALIZE_MATCH_OVERLAY_H */
