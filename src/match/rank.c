/*-------------------------------------------------------------------------
 *
 * rank.c
 *	  match()'s call phase: the subject's intents and signals, the ranking of
 *	  the offers they reach, and the reasons of each offer ranked.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/rank.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/names.h"
#include "base/placement.h"
#include "match/rank.h"
#include "match/index.h"

/* GUC */
int			signal_half_life = 14 * 24 * 3600;	/* seconds */

/* what this session's rankings scored and skipped, for match_cache_info() */
static MatchRankingCounts ranking_counts = {0, 0, 0, 0};

/*
 * Scores of one block, all zero between blocks (the scan that reads them
 * zeroes them again); a backend computes one ranking at a time.
 */
static double *block_scores = NULL;
static int32 *block_candidates = NULL;
static double *candidate_scores = NULL;
static bool block_scores_dirty = false;	/* a ranking stopped mid-block */

/* offers scanned together for one scoring above the threshold */
#define SCAN_CHUNK	64

/* the counts of this session's rankings */
const MatchRankingCounts *
MatchRankingCountsGet(void)
{
	return &ranking_counts;
}

/* what a ranking scored and skipped */
static void
note_ranking(uint64 blocks, uint64 skipped, uint64 postings, uint64 postings_skipped)
{
	ranking_counts.blocks += blocks;
	ranking_counts.blocks_skipped += skipped;
	ranking_counts.postings += postings;
	ranking_counts.postings_skipped += postings_skipped;
}

/* the entry for a catalog tag, created on first use */
static SubjectTag *
subject_tag(Subject *sub, int32 tag)
{
	SubjectTag *st;

	if (sub->slot[tag] >= 0)
		return &sub->tags[sub->slot[tag]];
	if (sub->ntags == sub->cap)
	{
		sub->cap *= 2;
		sub->tags = repalloc(sub->tags, sub->cap * sizeof(SubjectTag));
	}
	sub->slot[tag] = sub->ntags;
	st = &sub->tags[sub->ntags++];
	memset(st, 0, sizeof(SubjectTag));
	st->tag = tag;
	return st;
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Read the subject's intents and signals through the snapshot (two index
 * scans) and work out the affinity of each tag.  Called only for subjects
 * with consent to personalization.
 */
Subject *
SubjectLoad(const MatchCatalog *cat, const char *subject, int len,
			Snapshot snap, TimestampTz now)
{
	const MatchRels *r = MatchRelsGet();
	Subject    *sub = palloc0(sizeof(Subject));
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	text	   *subj = cstring_to_text_with_len(subject, len);
	int			purchased_cap = 16;
	double		half_life = (double) signal_half_life;
	int32		last_tag = -1;
	const char *last_name = NULL;
	Size		last_len = 0;
	Datum	   *values;
	bool	   *nulls;
	List	   *bought = NIL;
	Oid			intent_relid;
	Oid			intent_idx;
	Oid			signal_relid;
	Oid			signal_idx;

	sub->cap = 32;
	sub->tags = palloc(sub->cap * sizeof(SubjectTag));
	sub->slot = palloc(Max(cat->ntags, 1) * sizeof(int32));
	memset(sub->slot, -1, Max(cat->ntags, 1) * sizeof(int32));
	sub->purchased = palloc(purchased_cap * sizeof(int32));

	/*
	 * On a Citus worker whose copies of intents and signals are distributed
	 * by subject: the subject's shards, on this node.  A subject that
	 * cannot be a key of them has no rows there.
	 */
	intent_relid = r->intent_relid;
	intent_idx = r->intent_pkey;
	signal_relid = r->signal_relid;
	signal_idx = r->signal_idx;
	if (r->by_subject &&
		(!PersonalizeSubjectShard(r->intent_relid, REL_INTENT_BY_SUBJECT, IDX_INTENT_BY_SUBJECT_PKEY,
								  subject, len, &intent_relid, &intent_idx, "match()") ||
		 !PersonalizeSubjectShard(r->signal_relid, REL_SIGNAL_BY_SUBJECT, IDX_SIGNAL_BY_SUBJECT_SUBJECT,
								  subject, len, &signal_relid, &signal_idx, "match()")))
		goto affinities;

	/* intents: the primary key (subject, tag) */
	rel = table_open(intent_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, r->i_subject, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(subj));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, intent_idx, true, snap, 1, &key);
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		text	   *tag;
		float4		w;
		int32		t;
		SubjectTag *st;

		heap_deform_tuple(tup, desc, values, nulls);
		tag = DatumGetTextPP(values[r->i_tag - 1]);
		w = DatumGetFloat4(values[r->i_weight - 1]);
		t = MatchFindTag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));

		if (t < 0 || cat->tag_refused[t])
			continue;
		st = subject_tag(sub, t);
		st->has_intent = true;
		st->intent = (double) w;
		st->avoided = w < 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* signals: the index (subject, tag) */
	rel = table_open(signal_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, r->s_subject, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(subj));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, signal_idx, true, snap, 1, &key);
	pfree(values);
	pfree(nulls);
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		text	   *tag;
		text	   *kind;
		float4		w;
		TimestampTz at;
		const char *kdata;
		int			klen;
		int32		t;
		double		age;
		double		value;
		SubjectTag *st;
		int			i;

		heap_deform_tuple(tup, desc, values, nulls);
		tag = DatumGetTextPP(values[r->s_tag - 1]);
		kind = DatumGetTextPP(values[r->s_kind - 1]);
		w = DatumGetFloat4(values[r->s_weight - 1]);
		at = DatumGetTimestampTz(values[r->s_at - 1]);
		kdata = VARDATA_ANY(kind);
		klen = VARSIZE_ANY_EXHDR(kind);

		/*
		 * A bought offer is left out of the ranking, whenever it was bought.
		 * Its signals (one per tag) are found by offer_id below, once.
		 */
		if (!nulls[r->s_offer - 1] && klen == 8 && memcmp(kdata, "purchase", 8) == 0)
		{
			text	   *id = DatumGetTextPP(values[r->s_offer - 1]);
			ListCell   *lc;
			bool		seen = false;

			foreach(lc, bought)
			{
				text	   *b = (text *) lfirst(lc);

				if (VARSIZE_ANY_EXHDR(b) == VARSIZE_ANY_EXHDR(id) &&
					memcmp(VARDATA_ANY(b), VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id)) == 0)
				{
					seen = true;
					break;
				}
			}
			if (!seen)
				bought = lappend(bought, cstring_to_text_with_len(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id)));
		}

		/* rows come by tag: look the name up once per tag */
		if (last_name != NULL &&
			MatchBytesCmp(last_name, last_len, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag)) == 0)
			t = last_tag;
		else
		{
			t = last_tag = MatchFindTag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));
			last_name = t >= 0 ? cat->tag_names[t] : NULL;
			last_len = t >= 0 ? strlen(last_name) : 0;
		}
		if (t < 0 || cat->tag_refused[t])
			continue;

		/*
		 * The decay as SQL would write it: power(2, -(extract(epoch from
		 * now - at) / half_life)); a signal dated a little ahead (allowed by
		 * record_signal) counts as new.
		 */
		age = now > at ? (double) (now - at) / (double) USECS_PER_SEC : 0.0;
		value = (double) w * pow(2.0, -(age / half_life));
		st = subject_tag(sub, t);
		st->behaviour += value;
		for (i = 0; i < st->nkinds; i++)
			if ((int) strlen(st->kinds[i].kind) == klen &&
				memcmp(st->kinds[i].kind, kdata, klen) == 0)
				break;
		if (i == st->nkinds && st->nkinds < MAX_KINDS_PER_TAG)
			st->kinds[st->nkinds++].kind = pnstrdup(kdata, klen);
		if (i < st->nkinds)
			st->kinds[i].sum += value;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	/* the offers bought that the catalog still has, as references */
	{
		ListCell   *lc;

		foreach(lc, bought)
		{
			text	   *id = (text *) lfirst(lc);
			int32		o = MatchFindOfferRef(cat, VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));

			if (o < 0)
				continue;
			if (sub->npurchased == purchased_cap)
			{
				purchased_cap *= 2;
				sub->purchased = repalloc(sub->purchased, purchased_cap * sizeof(int32));
			}
			sub->purchased[sub->npurchased++] = o;
		}
	}

affinities:
	for (int i = 0; i < sub->ntags; i++)
	{
		SubjectTag *st = &sub->tags[i];

		st->affinity = (st->has_intent ? st->intent : 0.0) + st->behaviour;
		/* a tag no base offer carries may be on an offer of the overlay */
		st->scoring = !st->avoided && st->affinity != 0.0;
		if (!st->avoided && st->affinity > 0)
			sub->has_positive = true;
	}

	if (sub->npurchased > 1)
	{
		int			n = 1;

		qsort(sub->purchased, sub->npurchased, sizeof(int32), int32_cmp);
		for (int i = 1; i < sub->npurchased; i++)
			if (sub->purchased[i] != sub->purchased[n - 1])
				sub->purchased[n++] = sub->purchased[i];
		sub->npurchased = n;
	}
	return sub;
}

/* is the offer bought by the subject? */
bool
SubjectPurchased(const Subject *sub, int32 o)
{
	return bsearch(&o, sub->purchased, sub->npurchased, sizeof(int32), int32_cmp) != NULL;
}

/* does the offer carry a tag the subject avoids? */
bool
SubjectAvoids(const MatchCatalog *cat, const Subject *sub, int32 o)
{
	for (int i = 0; i < sub->ntags; i++)
		if (sub->tags[i].avoided && MatchPostingWeight(cat, sub->tags[i].tag, o) > 0)
			return true;
	return false;
}

/* a ranks below b: lower score, or the same score and a later offer_id */
static inline bool
ranks_below(const Ranked *a, const Ranked *b)
{
	return a->score < b->score || (a->score == b->score && a->key > b->key);
}

/* best first */
static int
ranked_cmp(const void *a, const void *b)
{
	const Ranked *x = (const Ranked *) a;
	const Ranked *y = (const Ranked *) b;

	if (ranks_below(x, y))
		return 1;
	if (ranks_below(y, x))
		return -1;
	return 0;
}

/* restore the heap below position i (the lowest-ranked offer at the root) */
static void
heap_sift_down(Ranked *heap, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			m = i;
		Ranked		tmp;

		if (l < n && ranks_below(&heap[l], &heap[m]))
			m = l;
		if (r < n && ranks_below(&heap[r], &heap[m]))
			m = r;
		if (m == i)
			return;
		tmp = heap[i];
		heap[i] = heap[m];
		heap[m] = tmp;
		i = m;
	}
}

static void
heap_sift_up(Ranked *heap, int i)
{
	while (i > 0)
	{
		int			p = (i - 1) / 2;
		Ranked		tmp;

		if (!ranks_below(&heap[i], &heap[p]))
			return;
		tmp = heap[i];
		heap[i] = heap[p];
		heap[p] = tmp;
		i = p;
	}
}

/*
 * score[o - base] += a * weight for the postings [p, e).  The offers of one
 * tag are distinct, so four postings are read before any score is written
 * (PostgreSQL builds with -fno-strict-aliasing, which would otherwise make
 * the compiler reload each posting after every store).
 */
static inline void
add_postings(double *score, const Posting *p, const Posting *e, int32 base, double a)
{
	const Posting *e4 = p + ((e - p) & ~(ptrdiff_t) 3);

	for (; p < e4; p += 4)
	{
		int32		o0 = p[0].offer - base;
		int32		o1 = p[1].offer - base;
		int32		o2 = p[2].offer - base;
		int32		o3 = p[3].offer - base;
		double		w0 = a * (double) p[0].weight;
		double		w1 = a * (double) p[1].weight;
		double		w2 = a * (double) p[2].weight;
		double		w3 = a * (double) p[3].weight;

		score[o0] += w0;
		score[o1] += w1;
		score[o2] += w2;
		score[o3] += w3;
	}
	for (; p < e; p++)
		score[p->offer - base] += a * (double) p->weight;
}

/* a scoring tag of the subject, as the ranking of one call sees it */
typedef struct ScoringTag
{
	const uint32 *blocks;		/* its row of cat->block_post */
	const float4 *max;			/* its row of cat->block_max */
	const Posting *list;		/* its postings */
	double		aff;
} ScoringTag;

/* does one of the n scores exceed t? */
static inline bool
chunk_any_above(const double *s, int32 n, double t)
{
	int32		i = 0;
	bool		any = false;
#ifdef __SSE2__
	__m128d		tv = _mm_set1_pd(t);
	__m128d		acc = _mm_setzero_pd();

	for (; i + 2 <= n; i += 2)
		acc = _mm_or_pd(acc, _mm_cmpgt_pd(_mm_loadu_pd(s + i), tv));
	any = _mm_movemask_pd(acc) != 0;
#endif
	for (; i < n; i++)
		any |= s[i] > t;
	return any;
}

/*
 * Bounds are compared with a margin that covers the rounding of sums of a
 * few dozen float8 terms, so that pruning never drops an offer whose
 * computed score would reach the top k.
 */
#define BOUND_SLACK (1.0 + 1e-9)

/* offer o (in the heap's terms) enters the heap, or replaces its root */
static inline void
heap_offer(Ranked *heap, int *n, int heapsize, double *threshold, double s, int64 key, int32 o)
{
	if (*n < heapsize)
	{
		heap[*n].score = s;
		heap[*n].key = key;
		heap[*n].offer = o;
		heap_sift_up(heap, *n);
		(*n)++;
		if (*n == heapsize)
			*threshold = heap[0].score;
	}
	else
	{
		heap[0].score = s;
		heap[0].key = key;
		heap[0].offer = o;
		heap_sift_down(heap, *n, 0);
		*threshold = heap[0].score;
	}
}

/*
 * Score the offers the subject's tags reach, block by block, and keep the
 * best heapsize active, allowed offers scoring above 0 in heap, sorted best
 * first; then the offers of the overlay.  Returns how many were kept.
 *
 * Pruning (block-max): once the heap is full, its lowest score is a
 * threshold an offer must beat.  In each block, a tag's bound is its
 * affinity times its largest weight in the block (0 for a negative
 * affinity); a block whose bounds add up to no more than the threshold
 * cannot hold an offer that gets in, and its postings are not read.  The
 * blocks that are read are scored exactly as without pruning.
 *
 * (A MaxScore variant, which also left the tags with the smallest bounds
 * unread within a block and looked up their weights for the offers that
 * could still get in, skipped half the postings of the benchmark's
 * catalog but took 5 to 25 times as long: a lookup costs far more than
 * the sequential additions it saves.)
 */
int
MatchRankOffers(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
				bool exclude_purchased, int heapsize, Ranked *heap)
{
	int			nscoring = 0;
	int			navoided = 0;
	ScoringTag *tags;			/* scoring tags in order j, then avoided ones */
	int		   *j_of_slot;		/* sub->tags index -> j, or -1 */
	int			n = 0;
	double		threshold = 0.0;
	int			pi = 0;
	int			mi = 0;
	const MatchOverlay *ov = cat->ov;
	uint64		nblocks_scored = 0;
	uint64		nblocks_skipped = 0;
	uint64		npostings = 0;
	uint64		npostings_skipped = 0;

	if (heapsize <= 0)
		return 0;
	tags = palloc(Max(sub->ntags, 1) * sizeof(ScoringTag));
	j_of_slot = palloc(Max(sub->ntags, 1) * sizeof(int));
	/* scoring tags first, then avoided ones */
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < sub->ntags; i++)
		{
			const SubjectTag *st = &sub->tags[i];
			int			j = nscoring + navoided;

			if (pass == 0)
				j_of_slot[i] = st->scoring ? j : -1;
			if (pass == 0 ? !st->scoring : !st->avoided)
				continue;
			tags[j].blocks = &cat->block_post[(Size) st->tag * (cat->nblocks + 1)];
			tags[j].max = &cat->block_max[(Size) st->tag * cat->nblocks];
			tags[j].list = &cat->postings[cat->post_start[st->tag]];
			tags[j].aff = st->affinity;
			if (pass == 0)
				nscoring++;
			else
				navoided++;
		}
	}
	if (nscoring == 0)
		return 0;

	if (block_scores == NULL)
	{
		block_scores = MemoryContextAllocZero(TopMemoryContext, MATCH_BLOCK * sizeof(double));
		block_candidates = MemoryContextAlloc(TopMemoryContext, MATCH_BLOCK * sizeof(int32));
		candidate_scores = MemoryContextAlloc(TopMemoryContext, MATCH_BLOCK * sizeof(double));
	}
	if (block_scores_dirty)
	{
		memset(block_scores, 0, MATCH_BLOCK * sizeof(double));
		block_scores_dirty = false;
	}

	for (int32 b = 0; b < cat->nblocks; b++)
	{
		int32		base = b * MATCH_BLOCK;
		int32		len = Min(MATCH_BLOCK, cat->noffers - base);
		double	   *score = block_scores;	/* score[o - base] */
		int32	   *cand = block_candidates;
		double	   *cscore = candidate_scores;	/* the score of cand[c] */
		int32		ncand = 0;
		bool		touched = false;
		double		total = 0.0;
		uint64		block_postings = 0;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < nscoring; j++)
		{
			const ScoringTag *t = &tags[j];
			uint32		cnt = t->blocks[b + 1] - t->blocks[b];

			/* the tag's bound in the block: aff * its largest weight, or 0 */
			if (cnt > 0 && t->aff > 0)
				total += t->aff * (double) t->max[b];
			block_postings += cnt;
			touched |= cnt > 0;
		}
		if (!touched)
			continue;
		/* no offer of the block can beat the lowest kept score: skip it */
		if (n == heapsize && total * BOUND_SLACK <= threshold)
		{
			nblocks_skipped++;
			npostings_skipped += block_postings;
			continue;
		}
		nblocks_scored++;
		npostings += block_postings;
		block_scores_dirty = true;

		for (int j = 0; j < nscoring; j++)
		{
			const Posting *p = tags[j].list + tags[j].blocks[b];
			const Posting *e = tags[j].list + tags[j].blocks[b + 1];

			add_postings(score, p, e, base, tags[j].aff);
		}
		for (int j = nscoring; j < nscoring + navoided; j++)
		{
			const Posting *p = tags[j].list + tags[j].blocks[b];
			const Posting *e = tags[j].list + tags[j].blocks[b + 1];

			for (; p < e; p++)
				score[p->offer - base] = -INFINITY;
		}
		if (exclude_purchased)
		{
			for (; pi < sub->npurchased && sub->purchased[pi] < base + len; pi++)
				score[sub->purchased[pi] - base] = -INFINITY;
		}
		/* offers the overlay replaces are scored with it */
		if (ov != NULL)
		{
			for (; mi < ov->nmasked && ov->masked[mi] < base + len; mi++)
				score[ov->masked[mi] - base] = -INFINITY;
		}

		/*
		 * The offers above the lowest kept score, and the scores zeroed
		 * for the next block.  Once the heap is full most chunks have none
		 * above it, which a vector comparison tells.
		 */
		for (int32 c0 = 0; c0 < len; c0 += SCAN_CHUNK)
		{
			int32		c1 = Min(c0 + SCAN_CHUNK, len);

			if (chunk_any_above(score + c0, c1 - c0, threshold))
			{
				for (int32 i = c0; i < c1; i++)
				{
					cand[ncand] = i;
					cscore[ncand] = score[i];
					ncand += score[i] > threshold;
				}
			}
			memset(score + c0, 0, (c1 - c0) * sizeof(double));
		}
		block_scores_dirty = false;

		/*
		 * Base offers come in offer_id order, so an offer tying with the
		 * lowest kept one ranks below it: only a higher score gets in.
		 */
		for (int32 c = 0; c < ncand; c++)
		{
			int32		o = base + cand[c];
			double		s = cscore[c];

			if (!(s > threshold) || !MatchOfferActive(cat, o, now))
				continue;
			heap_offer(heap, &n, heapsize, &threshold, s, MatchOfferKey(cat, o), o);
		}
	}

	/*
	 * The offers of the overlay, each scored from its own tags in the same
	 * order (j) as add_postings() sums a base offer's; they compare with
	 * the kept ones by score, then offer_id.
	 */
	if (ov != NULL)
	{
		int			maxpost = 1;
		int		   *js;
		double	   *terms;

		for (int32 i = 0; i < ov->n; i++)
			maxpost = Max(maxpost, ov->offers[i].npost);
		js = palloc(maxpost * sizeof(int));
		terms = palloc(maxpost * sizeof(double));
		for (int32 i = 0; i < ov->n; i++)
		{
			const OverlayOffer *x = &ov->offers[i];
			int32		o = cat->noffers + i;
			bool		avoided = false;
			int			nterms = 0;
			double		s = 0.0;
			Ranked		r;

			if (!MatchOfferActive(cat, o, now) ||
				(exclude_purchased && SubjectPurchased(sub, o)))
				continue;
			/* its scoring tags' terms, in order j (insertion: a few tags) */
			for (int p = 0; p < x->npost; p++)
			{
				int			slot = sub->slot[x->tags[p]];
				int			j;
				int			at;

				if (slot < 0)
					continue;
				if (sub->tags[slot].avoided)
				{
					avoided = true;
					break;
				}
				if ((j = j_of_slot[slot]) < 0)
					continue;
				for (at = nterms; at > 0 && js[at - 1] > j; at--)
				{
					js[at] = js[at - 1];
					terms[at] = terms[at - 1];
				}
				js[at] = j;
				terms[at] = sub->tags[slot].affinity * (double) x->weights[p];
				nterms++;
			}
			if (avoided || nterms == 0)
				continue;
			for (int t = 0; t < nterms; t++)
				s += terms[t];
			if (!(s > 0))
				continue;
			r.score = s;
			r.key = x->key;
			r.offer = o;
			if (n == heapsize && !ranks_below(&heap[0], &r))
				continue;
			heap_offer(heap, &n, heapsize, &threshold, s, x->key, o);
		}
		pfree(js);
		pfree(terms);
	}
	qsort(heap, n, sizeof(Ranked), ranked_cmp);
	note_ranking(nblocks_scored, nblocks_skipped, npostings, npostings_skipped);
	pfree(tags);
	pfree(j_of_slot);
	return n;
}

static int
contribution_cmp(const void *a, const void *b)
{
	const Contribution *x = (const Contribution *) a;
	const Contribution *y = (const Contribution *) b;

	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	return x->tag < y->tag ? -1 : (x->tag > y->tag ? 1 : 0);
}

/*
 * The tags that make up an offer's score, largest first (then by tag
 * name).  out has room for the subject's tags.
 */
int
MatchContributions(const MatchCatalog *cat, const Subject *sub, int32 o, Contribution *out)
{
	int			n = 0;

	for (int s = 0; s < sub->ntags; s++)
	{
		const SubjectTag *st = &sub->tags[s];
		float4		w;

		if (!st->scoring || (w = MatchPostingWeight(cat, st->tag, o)) == 0)
			continue;
		out[n].slot = s;
		out[n].tag = st->tag;
		out[n].value = st->affinity * (double) w;
		n++;
	}
	qsort(out, n, sizeof(Contribution), contribution_cmp);
	return n;
}

/* the tag number of an offer's largest contribution, or -1 */
static int32
main_tag(const MatchCatalog *cat, const Subject *sub, int32 o, Contribution *buf)
{
	int			n = MatchContributions(cat, sub, o, buf);

	return n > 0 ? sub->tags[buf[0].slot].tag : -1;
}

/*
 * Apply the per-tag cap: at most cap offers with the same main reason (the
 * tag of their largest contribution).  Reranks with a larger pool until k
 * offers pass or every candidate was seen.  Returns how many are in out.
 */
int
MatchRankWithCap(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
			  bool exclude_purchased, int k, int cap, Ranked *out)
{
	int32		total = MatchOfferCount(cat);
	int			pool = Min(total, Max(k * 4, k + 32));
	int32	   *per_tag = palloc(Max(cat->ntags, 1) * sizeof(int32));
	Contribution *buf = palloc(Max(cat->ntags, 1) * sizeof(Contribution));

	for (;;)
	{
		Ranked	   *heap = palloc(Max(pool, 1) * sizeof(Ranked));
		int			n = MatchRankOffers(cat, sub, now, exclude_purchased, pool, heap);
		int			accepted = 0;

		memset(per_tag, 0, Max(cat->ntags, 1) * sizeof(int32));
		for (int i = 0; i < n && accepted < k; i++)
		{
			int32		t = main_tag(cat, sub, heap[i].offer, buf);

			if (t >= 0 && per_tag[t] >= cap)
				continue;
			if (t >= 0)
				per_tag[t]++;
			out[accepted++] = heap[i];
		}
		pfree(heap);
		if (accepted == k || n < pool || pool >= total)
			return accepted;
		pool = (int) Min((int64) total, (int64) pool * 4);
	}
}

/* ---------- reasons ---------- */

/* the past tense of a kind of behaviour, for "you <verb> <tag> recently" */
static const struct
{
	const char *kind;
	const char *verb;
}			kind_verbs[] =
{
	{"view", "viewed"},
	{"click", "clicked on"},
	{"purchase", "bought"},
	{"like", "liked"},
	{"share", "shared"},
	{"search", "searched for"},
	{"save", "saved"},
	{"rate", "rated"},
	{"review", "reviewed"},
	{"dismiss", "dismissed"},
	{"return", "returned"},
	{"skip", "skipped"},
};

static const char *
kind_verb(const KindSum *k)
{
	for (int i = 0; i < (int) lengthof(kind_verbs); i++)
		if (strcmp(kind_verbs[i].kind, k->kind) == 0)
			return kind_verbs[i].verb;
	return k->sum >= 0 ? "showed interest in" : "turned down";
}

static int
kindsum_cmp(const void *a, const void *b)
{
	double		x = fabs(((const KindSum *) a)->sum);
	double		y = fabs(((const KindSum *) b)->sum);

	if (x != y)
		return x > y ? -1 : 1;
	return strcmp(((const KindSum *) a)->kind, ((const KindSum *) b)->kind);
}

/*
 * A reason in words a customer can read: "you said you like running",
 * "you bought and viewed running recently", "you said you like running and
 * viewed it recently".
 */
char *
MatchReasonText(const MatchCatalog *cat, const SubjectTag *st)
{
	const char *label = cat->tag_labels[st->tag];
	KindSum		kinds[MAX_KINDS_PER_TAG];
	const char *verbs[2];
	int			nverbs = 0;

	memcpy(kinds, st->kinds, st->nkinds * sizeof(KindSum));
	qsort(kinds, st->nkinds, sizeof(KindSum), kindsum_cmp);
	for (int i = 0; i < st->nkinds && nverbs < 2; i++)
	{
		const char *v = kind_verb(&kinds[i]);

		if (kinds[i].sum == 0.0 || (nverbs == 1 && strcmp(verbs[0], v) == 0))
			continue;
		verbs[nverbs++] = v;
	}
	if (st->has_intent && nverbs == 0)
		return psprintf("you said you like %s", label);
	if (st->has_intent)
		return psprintf("you said you like %s and %s it recently", label, verbs[0]);
	if (nverbs == 2)
		return psprintf("you %s and %s %s recently", verbs[0], verbs[1], label);
	if (nverbs == 1)
		return psprintf("you %s %s recently", verbs[0], label);
	return psprintf("your recent activity on %s", label);
}

Datum
MatchReasonsArray(List *texts)
{
	Datum	   *elems = palloc(Max(list_length(texts), 1) * sizeof(Datum));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, texts)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
