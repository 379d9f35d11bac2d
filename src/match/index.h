/*-------------------------------------------------------------------------
 *
 * index.h
 *	  The bottom of match(): the relations it reads, and the offer catalog
 *	  as an inverted index laid out flat, built, viewed, freed and looked
 *	  up in (index.c).  The overlay's types are here too: an offer
 *	  reference may name an offer of the overlay.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/index.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_INDEX_H
#define PERSONALIZE_MATCH_INDEX_H

#include "postgres.h"

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "utils/snapshot.h"

/* offers scored together: 16384 float8 scores are 128kB, an L2 cache */
#define MATCH_BLOCK			16384

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

	/*
	 * On a Citus worker, after distribute(colocate_with): the copies of
	 * intents and signals are distributed by subject, and intent_relid and
	 * signal_relid are the copies themselves (for their attribute numbers);
	 * SubjectLoad() reads the subject's shards (base/placement.h).
	 */
	bool		by_subject;
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

/* ---------- the catalog index ---------- */

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
 * The offers changed since the base index was built (overlay.c):
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
 * (the "blob", index.c), either private or a dynamic shared memory
 * segment every backend of the database maps (shared.c); this
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

/* the relations */
extern const MatchRels *MatchRelsGet(void);
extern const MatchRels *MatchRelsKnown(void);

/*
 * Building an index in two steps, so that its blob can go where the caller
 * wants it (shared.c: in a new segment): MatchBuildStart() reads the
 * catalog through the snapshot, MatchBuildSize() tells the size of its
 * blob, MatchBuildFinish() lays it out into a blob of that size and
 * returns the catalog over it (under parent), MatchBuildCancel() drops it.
 * MatchCatalogBuild() does it all into a private blob.
 */
typedef struct MatchBuild MatchBuild;
extern MatchBuild *MatchBuildStart(const MatchRels *r, Snapshot snap, int64 version);
extern Size MatchBuildSize(const MatchBuild *build);
extern MatchCatalog *MatchBuildFinish(MatchBuild *build, char *blob, MemoryContext parent);
extern void MatchBuildCancel(MatchBuild *build);
extern MatchCatalog *MatchCatalogBuild(const MatchRels *r, Snapshot snap, int64 version,
									   MemoryContext parent);
extern MatchCatalog *MatchCatalogView(char *blob, MemoryContext parent);
extern void MatchCatalogFree(MatchCatalog *cat);

/* lookups */
extern int32 MatchFindOffer(const MatchCatalog *cat, const char *s, Size len);
extern int32 MatchOverlayFind(const MatchOverlay *ov, const char *s, Size len);
extern int32 MatchFindOfferRef(const MatchCatalog *cat, const char *s, Size len);
extern int32 MatchFindTag(const MatchCatalog *cat, const char *s, Size len);
extern float4 MatchPostingWeight(const MatchCatalog *cat, int32 t, int32 o);
extern const char *MatchOfferId(const MatchCatalog *cat, int32 o, int *len);

#endif							/* PERSONALIZE_MATCH_INDEX_H */
