/*-------------------------------------------------------------------------
 *
 * match_internal.h
 *	  What the three phases of match() share: the catalog (match_catalog.c),
 *	  the subject and the ranking (match_rank.c), the SQL functions (match.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_INTERNAL_H
#define PERSONALIZE_MATCH_INTERNAL_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

/* the largest k match() accepts */
#define MATCH_MAX_K			10000
/* offers scored together: 16384 float8 scores are 128kB, an L2 cache */
#define MATCH_BLOCK			16384
/* named kinds of behaviour per tag, for the reasons */
#define MAX_KINDS_PER_TAG	8
/* the purpose whose consent match() needs */
#define MATCH_PURPOSE		"personalization"

/* GUCs (match.c) */
extern int	signal_half_life;	/* seconds */
extern int	match_cache_mem;	/* kB */

/* ---------- the relations match() reads ---------- */

/*
 * OIDs and attribute numbers, looked up once per backend and forgotten on a
 * relcache invalidation of any of them (ALTER, DROP EXTENSION ...).
 */
typedef struct MatchRels
{
	bool		valid;
	Oid			version_relid;
	Oid			version_pkey;
	Oid			offers_relid;
	Oid			offer_tags_relid;
	Oid			tag_relid;
	Oid			category_relid;
	Oid			intent_relid;
	Oid			intent_pkey;
	Oid			signal_relid;
	Oid			signal_idx;
	AttrNumber	v_only_row;
	AttrNumber	v_version;
	AttrNumber	o_id;
	AttrNumber	o_priority;
	AttrNumber	o_starts;
	AttrNumber	o_ends;
	AttrNumber	o_enabled;
	AttrNumber	ot_offer;
	AttrNumber	ot_tag;
	AttrNumber	ot_weight;
	AttrNumber	t_tag;
	AttrNumber	t_category;
	AttrNumber	t_description;
	AttrNumber	c_name;
	AttrNumber	c_sensitivity;
	AttrNumber	c_demographic;
	AttrNumber	c_proxy_for;
	AttrNumber	i_subject;
	AttrNumber	i_tag;
	AttrNumber	i_weight;
	AttrNumber	s_subject;
	AttrNumber	s_tag;
	AttrNumber	s_kind;
	AttrNumber	s_weight;
	AttrNumber	s_at;
	AttrNumber	s_offer;
} MatchRels;

/* ---------- the catalog ---------- */

/* one posting: an offer carrying a tag, with the offer's weight for it */
typedef struct Posting
{
	int32		offer;
	float4		weight;
} Posting;

/*
 * The offer catalog as an index.  Everything, this struct included, lives
 * in cxt: kept under CacheMemoryContext, or for one call only.
 */
typedef struct MatchCatalog
{
	MemoryContext cxt;
	Oid			version_relid;	/* with version: what it was built from */
	int64		version;

	/* offers, numbered in offer_id order (bytewise) */
	int32		noffers;
	char	   *ids;			/* NUL-terminated ids, one after another */
	uint32	   *id_off;			/* noffers + 1 offsets into ids */
	TimestampTz *starts;		/* DT_NOBEGIN when NULL */
	TimestampTz *ends;			/* DT_NOEND when NULL */
	int32	   *priority;
	bool	   *enabled;
	int32	   *by_priority;	/* enabled offers, priority DESC, offer_id */
	int32		nby_priority;

	/* tags, numbered in name order (bytewise) */
	int32		ntags;
	char	  **tag_names;
	char	  **tag_labels;		/* the words of the reasons */
	bool	   *tag_refused;	/* category demographic, sensitive ... */
	int32		refused_tags;

	/* inverted index: postings of tag t are [post_start[t], post_start[t+1]) */
	uint64	   *post_start;
	Posting    *postings;
	uint64		npostings;

	/*
	 * Where each tag's postings cross into each block of MATCH_BLOCK offers:
	 * block_post[t * (nblocks + 1) + b] is the first posting of tag t (an
	 * index from post_start[t]) whose offer is in block b or later.
	 */
	int32		nblocks;
	uint32	   *block_post;

	Size		mem_bytes;
	double		build_ms;
	TimestampTz built_at;
} MatchCatalog;

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
	int32		offer;
} Ranked;

/* one tag's part in an offer's score */
typedef struct Contribution
{
	int			slot;			/* in sub->tags */
	int32		tag;
	double		value;
} Contribution;

/* bytewise comparison of s[0..slen) and t[0..tlen), as COLLATE "C" */
static inline int
MatchBytesCmp(const char *s, Size slen, const char *t, Size tlen)
{
	int			c = memcmp(s, t, Min(slen, tlen));

	if (c != 0)
		return c;
	return slen < tlen ? -1 : (slen > tlen ? 1 : 0);
}

/* is the offer shown at time now? */
static inline bool
MatchOfferActive(const MatchCatalog *cat, int32 o, TimestampTz now)
{
	return cat->enabled[o] && cat->starts[o] <= now && now < cat->ends[o];
}

/* match_catalog.c: the relations, and the catalog as an index */
extern void MatchCatalogInit(void);
extern const MatchRels *MatchRelsGet(void);
extern MatchCatalog *MatchCatalogGet(Snapshot snap, MemoryContext callcxt);
extern int32 MatchFindOffer(const MatchCatalog *cat, const char *s, Size len);
extern int32 MatchFindTag(const MatchCatalog *cat, const char *s, Size len);
extern float4 MatchPostingWeight(const MatchCatalog *cat, int32 t, int32 o);

/* match_rank.c: the subject, the ranking and its reasons */
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

#endif							/* PERSONALIZE_MATCH_INTERNAL_H */
