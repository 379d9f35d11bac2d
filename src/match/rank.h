/*-------------------------------------------------------------------------
 *
 * rank.h
 *	  match()'s call phase: the subject's intents and signals, the ranking
 *	  of the offers they reach, and the reasons of each offer ranked
 *	  (rank.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/rank.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_RANK_H
#define PERSONALIZE_MATCH_RANK_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

#include "match/index.h"

/* named kinds of behaviour per tag, for the reasons */
#define MAX_KINDS_PER_TAG	8

/* GUC (set up by MatchInit(), match.c) */
extern int	signal_half_life;	/* seconds */

/* ---------- the subject ---------- */

typedef struct KindSum
{
	char	   *kind;
	double		sum;
} KindSum;

/* what the subject stated and did about one tag */
typedef struct SubjectTag
{
	int32		tag;
	bool		has_intent;
	double		intent;
	double		behaviour;		/* decayed sum of signals */
	double		affinity;
	bool		avoided;		/* a negative intent */
	bool		scoring;		/* takes part in scores */
	int			nkinds;
	KindSum		kinds[MAX_KINDS_PER_TAG];
} SubjectTag;

typedef struct Subject
{
	SubjectTag *tags;
	int			ntags;
	int			cap;
	int32	   *slot;			/* catalog tag number -> index in tags, or -1 */
	int32	   *purchased;		/* offer numbers, sorted, unique */
	int			npurchased;
	bool		has_positive;	/* some tag has a positive affinity */
} Subject;

/* ---------- ranking ---------- */

typedef struct Ranked
{
	double		score;
	int64		key;			/* offer_id order: MatchOfferKey() */
	int32		offer;			/* a reference */
} Ranked;

/* one tag's part in an offer's score */
typedef struct Contribution
{
	int			slot;			/* in sub->tags */
	int32		tag;
	double		value;
} Contribution;

extern Subject *SubjectLoad(const MatchCatalog *cat, const char *subject, int len,
							Snapshot snap, TimestampTz now);
extern bool SubjectPurchased(const Subject *sub, int32 o);
extern bool SubjectAvoids(const MatchCatalog *cat, const Subject *sub, int32 o);
extern int	MatchRankOffers(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
							bool exclude_purchased, int k, Ranked *out);
extern int	MatchRankWithCap(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
							 bool exclude_purchased, int k, int cap, Ranked *out);
extern int	MatchContributions(const MatchCatalog *cat, const Subject *sub, int32 o,
							   Contribution *out);
extern char *MatchReasonText(const MatchCatalog *cat, const SubjectTag *st);
extern Datum MatchReasonsArray(List *texts);

/* what this session's rankings scored and skipped, for match_cache_info() */
typedef struct MatchRankingCounts
{
	uint64		blocks;
	uint64		blocks_skipped;
	uint64		postings;
	uint64		postings_skipped;
} MatchRankingCounts;

extern const MatchRankingCounts *MatchRankingCountsGet(void);

#endif							/* PERSONALIZE_MATCH_RANK_H */
