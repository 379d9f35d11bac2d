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
extern int	match_shared_mem;	/* kB */
extern int	match_overlay_limit;	/* offers */

/* ---------- the relations match() reads ---------- */

/*
 * OIDs and attribute numbers, looked up once per backend and again when one
 * of them may have changed (ALTER, DROP EXTENSION ...: base/relations.c).
 */
typedef struct MatchRels
{
	bool		valid;
	uint64		epoch;			/* PersonalizeRelationsEpoch() it was read at */
	Oid			version_relid;
	Oid			version_pkey;
	Oid			change_relid;	/* InvalidOid before 0.3.0 */
	Oid			change_idx;
	Oid			offers_relid;
	Oid			offers_pkey;
	Oid			offer_tags_relid;
	Oid			offer_tags_pkey;
	Oid			tag_relid;
	Oid			category_relid;
	Oid			intent_relid;
	Oid			intent_pkey;
	Oid			signal_relid;
	Oid			signal_idx;
	bool		citus_copies;	/* a Citus worker's shards of the copies */
	AttrNumber	v_only_row;
	AttrNumber	v_version;
	AttrNumber	v_horizon;		/* InvalidAttrNumber before 0.3.0 */
	AttrNumber	ch_version;
	AttrNumber	ch_offer;
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

/* an offer changed since the base index was built, as the snapshot sees it */
typedef struct OverlayOffer
{
	char	   *id;
	int32		len;
	int32		base;			/* the base offer with this id, or -1 */
	bool		exists;			/* the snapshot sees the offer */
	bool		enabled;
	int32		priority;
	TimestampTz starts;
	TimestampTz ends;
	int32		npost;
	int32	   *tags;			/* base tag numbers, ascending */
	float4	   *weights;
	int64		key;			/* its place in offer_id order among the base offers */
} OverlayOffer;

/*
 * The offers changed since the base index was built (match_overlay.c):
 * their state replaces the base's, which is masked.  Everything lives in
 * cxt.
 */
typedef struct MatchOverlay
{
	MemoryContext cxt;
	int64		base_version;	/* the base index it applies to */
	int64		version;		/* the catalog version it is current for */
	int32		n;
	OverlayOffer *offers;		/* sorted by id */
	int32		nmasked;
	int32	   *masked;			/* base numbers of changed offers, ascending */
	int32		nby_priority;
	int32	   *by_priority;	/* enabled overlay offers (indexes), priority DESC, key */
	int32		delta_offers;	/* offers the snapshot sees less those the base has */
	Size		mem_bytes;
} MatchOverlay;

/*
 * The offer catalog as an index.  Its arrays are one flat block of memory
 * (the "blob", match_catalog.c), either private or a dynamic shared memory
 * segment every backend of the database maps (match_shared.c); this
 * struct, in cxt, holds the pointers into it.
 *
 * Offers are named by a reference: 0 .. noffers - 1 for the base offers,
 * noffers + i for the overlay's offer i (ov, set for one call).
 */
typedef struct MatchCatalog
{
	MemoryContext cxt;
	Oid			version_relid;	/* with version: what it was built from */
	int64		version;
	char	   *blob;			/* the arrays below point into it */
	Size		blob_size;
	void	   *seg;			/* the dsm_segment when shared, or NULL */
	const MatchOverlay *ov;		/* for one call, or NULL */

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
	 * index from post_start[t]) whose offer is in block b or later; and
	 * block_max[t * nblocks + b] the largest weight of tag t in block b (0
	 * when no offer of the block carries it).
	 */
	int32		nblocks;
	uint32	   *block_post;
	float4	   *block_max;

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

/* bytewise comparison of s[0..slen) and t[0..tlen), as COLLATE "C" */
static inline int
MatchBytesCmp(const char *s, Size slen, const char *t, Size tlen)
{
	int			c = memcmp(s, t, Min(slen, tlen));

	if (c != 0)
		return c;
	return slen < tlen ? -1 : (slen > tlen ? 1 : 0);
}

/* is the reference an offer of the overlay? */
static inline bool
MatchIsOverlay(const MatchCatalog *cat, int32 o)
{
	return o >= cat->noffers;
}

static inline const OverlayOffer *
MatchOverlayOffer(const MatchCatalog *cat, int32 o)
{
	return &cat->ov->offers[o - cat->noffers];
}

/* how many references there are */
static inline int32
MatchOfferCount(const MatchCatalog *cat)
{
	return cat->noffers + (cat->ov ? cat->ov->n : 0);
}

/* the key that orders references by offer_id */
static inline int64
MatchOfferKey(const MatchCatalog *cat, int32 o)
{
	int64		m = cat->ov ? cat->ov->n : 0;

	if (MatchIsOverlay(cat, o))
		return MatchOverlayOffer(cat, o)->key;
	return (int64) o * (m + 1) + m;
}

/* is the base offer o replaced by the overlay? */
static inline bool
MatchBaseMasked(const MatchCatalog *cat, int32 o)
{
	const MatchOverlay *ov = cat->ov;
	int32		lo = 0;
	int32		hi;

	if (ov == NULL)
		return false;
	hi = ov->nmasked - 1;
	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (ov->masked[mid] == o)
			return true;
		if (ov->masked[mid] < o)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* is the offer shown at time now? */
static inline bool
MatchOfferActive(const MatchCatalog *cat, int32 o, TimestampTz now)
{
	if (MatchIsOverlay(cat, o))
	{
		const OverlayOffer *x = MatchOverlayOffer(cat, o);

		return x->exists && x->enabled && x->starts <= now && now < x->ends;
	}
	return cat->enabled[o] && cat->starts[o] <= now && now < cat->ends[o] &&
		!MatchBaseMasked(cat, o);
}

/* match_catalog.c: the relations, and the catalog as an index */
extern void MatchCatalogInit(void);
extern const MatchRels *MatchRelsGet(void);
extern MatchCatalog *MatchCatalogGet(Snapshot snap, MemoryContext callcxt);
extern MatchCatalog *MatchCatalogBuild(const MatchRels *r, Snapshot snap, int64 version,
									   MemoryContext parent, bool shared);
extern void MatchCatalogFree(MatchCatalog *cat);
extern int64 MatchCatalogVersion(const MatchRels *r, Snapshot snap, bool *own,
								 int64 *horizon);
extern MatchCatalog *MatchCatalogView(char *blob, MemoryContext parent);
extern int32 MatchFindOffer(const MatchCatalog *cat, const char *s, Size len);
extern int32 MatchFindOfferRef(const MatchCatalog *cat, const char *s, Size len);
extern int32 MatchFindTag(const MatchCatalog *cat, const char *s, Size len);
extern float4 MatchPostingWeight(const MatchCatalog *cat, int32 t, int32 o);
extern const char *MatchOfferId(const MatchCatalog *cat, int32 o, int *len);
extern void MatchNoteRanking(uint64 blocks, uint64 skipped, uint64 postings,
							 uint64 postings_skipped);

/* match_shared.c: the index every backend of a database shares */
extern void MatchSharedInit(void);
extern bool MatchSharedAvailable(void);
extern Size MatchSharedShmemSize(void);
extern void MatchSharedShmemInit(void);
extern void *MatchSharedCreate(Size size, char **addr);
extern int64 MatchSharedVersion(const MatchRels *r);
extern MatchCatalog *MatchSharedAttach(const MatchRels *r, int64 *version);
extern bool MatchSharedPublish(MatchCatalog *cat);
extern void MatchSharedBuildLock(void);
extern bool MatchSharedBuildLockTry(void);
extern void MatchSharedBuildUnlock(void);
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
extern void MatchSharedGetInfo(const MatchRels *r, MatchSharedInfo *info);

/* match_overlay.c: the offers changed since the base was built */
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
extern int32 MatchOverlayFind(const MatchOverlay *ov, const char *s, Size len);

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
