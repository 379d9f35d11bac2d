/*-------------------------------------------------------------------------
 *
 * overlay.c
 *	  The overlay: the offers changed since the base index was built, read
 *	  from the change log by version, so that a change to k offers costs
 *	  the next match() work in k, not in the catalog.
 *
 * Every catalog statement increments match_catalog_version and logs the
 * offers it changed, at that version, in match_catalog_change (one row
 * without an offer for a change to every offer: tags, categories,
 * TRUNCATE, bulk loads).  Committed versions increase in commit order
 * (writers queue on the version row), and a snapshot that sees version V
 * sees exactly the committed statements of versions up to V.  So the
 * offers a statement sees differently from a base index built at version
 * B < V are precisely those of the log rows its own snapshot sees with a
 * version above B, its own transaction's included; each is read again
 * through the snapshot (two index probes) and replaces the base's copy,
 * which is masked.
 *
 * A backend keeps the last overlay it made for a committed version, and
 * the next statement reads only the log rows past that version.  An
 * overlay that includes our own open transaction's changes serves one
 * call only.  When the overlay grows past personalize.match_overlay_limit
 * offers, match() folds it into a new base index (catalog.c).
 *
 * The overlay's types are in index.h, and the lookups that read it
 * (MatchOverlayFind(), MatchFindOfferRef()) in index.c: an offer
 * reference past the base's offers names an offer of the overlay.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/overlay.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "match/overlay.h"
#include "match/index.h"

/* the overlay kept for the kept base index, or NULL */
static MatchOverlay *kept = NULL;
static const MatchCatalog *kept_base = NULL;

/* an id while the overlay is made */
typedef struct ChangedId
{
	char	   *id;
	int32		len;
} ChangedId;

void
MatchOverlayForget(void)
{
	if (kept != NULL)
	{
		MemoryContext cxt = kept->cxt;

		kept = NULL;
		kept_base = NULL;
		MemoryContextDelete(cxt);
	}
}

const MatchOverlay *
MatchOverlayKept(const MatchCatalog *base)
{
	if (kept != NULL && base != NULL && kept_base == base &&
		kept->base_version == base->version)
		return kept;
	return NULL;
}

static int
changed_cmp(const void *a, const void *b)
{
	const ChangedId *x = (const ChangedId *) a;
	const ChangedId *y = (const ChangedId *) b;

	return MatchBytesCmp(x->id, x->len, y->id, y->len);
}

/*
 * The ids of the offers changed after version from, as the snapshot sees
 * the change log, sorted and unique.  Returns false if a change to every
 * offer is among them.
 */
static bool
read_changes(const MatchRels *r, Snapshot snap, int64 from, ChangedId **out, int32 *nout)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	ChangedId  *ids;
	int32		n = 0;
	int32		cap = 16;
	bool		complete = true;

	ids = palloc(cap * sizeof(ChangedId));
	rel = table_open(r->change_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, r->ch_version, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(from));
	scan = systable_beginscan(rel, r->change_idx, true, snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, r->ch_offer, desc, &isnull);
		text	   *t;

		if (isnull)
		{
			complete = false;
			break;
		}
		if ((n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (n == cap)
		{
			cap *= 2;
			ids = repalloc_huge(ids, cap * sizeof(ChangedId));
		}
		t = DatumGetTextPP(d);
		ids[n].len = VARSIZE_ANY_EXHDR(t);
		ids[n].id = pnstrdup(VARDATA_ANY(t), ids[n].len);
		n++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!complete)
		return false;

	if (n > 1)
	{
		int32		u = 1;

		qsort(ids, n, sizeof(ChangedId), changed_cmp);
		for (int32 i = 1; i < n; i++)
			if (changed_cmp(&ids[i], &ids[u - 1]) != 0)
				ids[u++] = ids[i];
		n = u;
	}
	*out = ids;
	*nout = n;
	return true;
}

/* the relations an overlay is read from, open for one overlay */
typedef struct OverlayReader
{
	const MatchRels *r;
	Snapshot	snap;
	const MatchCatalog *base;
	Relation	offers;
	Relation	offer_tags;
} OverlayReader;

typedef struct TagWeight
{
	int32		tag;
	float4		weight;
} TagWeight;

static int
tagweight_cmp(const void *a, const void *b)
{
	int32		x = ((const TagWeight *) a)->tag;
	int32		y = ((const TagWeight *) b)->tag;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Read one offer through the snapshot into x (allocated in cxt).  Returns
 * false if it carries a tag the base index does not know (the base is
 * then older than a tag change, which the log marks for a rebuild).
 */
static bool
load_offer(OverlayReader *rd, const char *id, int32 len, MemoryContext cxt, OverlayOffer *x)
{
	const MatchRels *r = rd->r;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	text	   *idt = cstring_to_text_with_len(id, len);
	TagWeight  *tw;
	int32		n = 0;
	int32		cap = 16;

	memset(x, 0, sizeof(OverlayOffer));
	x->id = MemoryContextAlloc(cxt, len + 1);
	memcpy(x->id, id, len);
	x->id[len] = '\0';
	x->len = len;
	x->base = MatchFindOffer(rd->base, id, len);

	desc = RelationGetDescr(rd->offers);
	ScanKeyInit(&key, r->o_id, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(idt));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rd->offers, r->offers_pkey, true, rd->snap, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;

		x->exists = true;
		x->priority = DatumGetInt32(heap_getattr(tup, r->o_priority, desc, &isnull));
		x->enabled = DatumGetBool(heap_getattr(tup, r->o_enabled, desc, &isnull));
		d = heap_getattr(tup, r->o_starts, desc, &isnull);
		x->starts = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
		d = heap_getattr(tup, r->o_ends, desc, &isnull);
		x->ends = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	}
	systable_endscan(scan);
	if (!x->exists)
		return true;

	tw = palloc(cap * sizeof(TagWeight));
	desc = RelationGetDescr(rd->offer_tags);
	ScanKeyInit(&key, r->ot_offer, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(idt));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rd->offer_tags, r->offer_tags_pkey, true, rd->snap, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		text	   *tag = DatumGetTextPP(heap_getattr(tup, r->ot_tag, desc, &isnull));
		int32		t = MatchFindTag(rd->base, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));

		if (t < 0)
		{
			systable_endscan(scan);
			return false;
		}
		if (rd->base->tag_refused[t])
			continue;
		if (n == cap)
		{
			cap *= 2;
			tw = repalloc(tw, cap * sizeof(TagWeight));
		}
		tw[n].tag = t;
		tw[n].weight = DatumGetFloat4(heap_getattr(tup, r->ot_weight, desc, &isnull));
		n++;
	}
	systable_endscan(scan);
	qsort(tw, n, sizeof(TagWeight), tagweight_cmp);
	x->npost = n;
	x->tags = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(int32));
	x->weights = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(float4));
	for (int32 i = 0; i < n; i++)
	{
		x->tags[i] = tw[i].tag;
		x->weights[i] = tw[i].weight;
	}
	pfree(tw);
	return true;
}

/* a copy of x in cxt */
static void
copy_offer(const OverlayOffer *x, MemoryContext cxt, OverlayOffer *y)
{
	*y = *x;
	y->id = MemoryContextAlloc(cxt, x->len + 1);
	memcpy(y->id, x->id, x->len + 1);
	y->tags = MemoryContextAlloc(cxt, Max(x->npost, 1) * sizeof(int32));
	y->weights = MemoryContextAlloc(cxt, Max(x->npost, 1) * sizeof(float4));
	memcpy(y->tags, x->tags, x->npost * sizeof(int32));
	memcpy(y->weights, x->weights, x->npost * sizeof(float4));
}

/* the number of base offers whose id sorts before s */
static int32
base_lower_bound(const MatchCatalog *base, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = base->noffers;

	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (MatchBytesCmp(base->ids + base->id_off[mid],
						  base->id_off[mid + 1] - base->id_off[mid] - 1, s, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const MatchOverlay *sort_ov;

/* priority DESC, then offer_id */
static int
overlay_priority_cmp(const void *a, const void *b)
{
	const OverlayOffer *x = &sort_ov->offers[*(const int32 *) a];
	const OverlayOffer *y = &sort_ov->offers[*(const int32 *) b];

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->key < y->key ? -1 : (x->key > y->key ? 1 : 0);
}

/* the masked base offers, the keys and the non-personalized order */
static void
finalize(MatchOverlay *ov, const MatchCatalog *base)
{
	int64		m = ov->n;

	ov->masked = MemoryContextAlloc(ov->cxt, Max(ov->n, 1) * sizeof(int32));
	ov->by_priority = MemoryContextAlloc(ov->cxt, Max(ov->n, 1) * sizeof(int32));
	ov->nmasked = 0;
	ov->nby_priority = 0;
	for (int32 i = 0; i < ov->n; i++)
	{
		OverlayOffer *x = &ov->offers[i];
		int64		p = x->base >= 0 ? x->base : base_lower_bound(base, x->id, x->len);

		/* before the base offer at p, after those before it and after overlay offers before it */
		x->key = p * (m + 1) + i;
		if (x->base >= 0)
			ov->masked[ov->nmasked++] = x->base;
		ov->delta_offers += (x->exists ? 1 : 0) - (x->base >= 0 ? 1 : 0);
		if (x->exists && x->enabled)
			ov->by_priority[ov->nby_priority++] = i;
	}
	sort_ov = ov;
	qsort(ov->by_priority, ov->nby_priority, sizeof(int32), overlay_priority_cmp);
	sort_ov = NULL;
	ov->mem_bytes = MemoryContextMemAllocated(ov->cxt, true);
}

/*
 * The overlay that brings base (kept, at a version after horizon) to
 * version as the snapshot sees it, or NULL when base is that version.
 * OVERLAY_REBUILD when the change log cannot: a change to every offer
 * since, an older version's SQL, or a base older than the log's horizon.
 */
OverlayResult
MatchOverlayGet(MatchCatalog *base, const MatchRels *r, Snapshot snap,
				int64 version, bool own, int64 horizon,
				MemoryContext callcxt, const MatchOverlay **out)
{
	MatchOverlay *start = (MatchOverlay *) MatchOverlayKept(base);
	MatchOverlay *ov;
	ChangedId  *ids = NULL;
	int32		nids = 0;
	int64		from;
	OverlayReader rd;
	MemoryContext cxt;
	MemoryContext old;
	int32		cap;
	int32		si = 0;
	int32		ci = 0;
	bool		keep = !own;

	*out = NULL;
	if (version == base->version && !own)
		return OVERLAY_OK;
	if (!OidIsValid(r->change_relid) || base->version < horizon)
		return OVERLAY_REBUILD;
	if (start != NULL && start->version > version)
		start = NULL;			/* an older snapshot than the kept overlay's */
	from = start ? start->version : base->version;
	if (start != NULL && from == version && !own)
	{
		*out = start;
		return OVERLAY_OK;
	}

	if (!read_changes(r, snap, from, &ids, &nids))
		return OVERLAY_REBUILD;
	if (nids == 0)
	{
		/* no offer changed in between (the versions were rolled back) */
		if (start != NULL && keep)
			start->version = version;
		*out = start;
		return OVERLAY_OK;
	}

	cxt = AllocSetContextCreate(keep ? CacheMemoryContext : callcxt,
								"personalize match overlay", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	ov = palloc0(sizeof(MatchOverlay));
	ov->cxt = cxt;
	ov->base_version = base->version;
	ov->version = version;
	cap = (start ? start->n : 0) + nids;
	ov->offers = palloc(Max(cap, 1) * sizeof(OverlayOffer));
	MemoryContextSwitchTo(old);

	rd.r = r;
	rd.snap = snap;
	rd.base = base;
	rd.offers = table_open(r->offers_relid, AccessShareLock);
	rd.offer_tags = table_open(r->offer_tags_relid, AccessShareLock);

	/* merge the kept overlay with the offers changed since, both sorted by id */
	while ((start && si < start->n) || ci < nids)
	{
		int			c;
		OverlayOffer *x = &ov->offers[ov->n];

		CHECK_FOR_INTERRUPTS();
		if (!(start && si < start->n))
			c = 1;
		else if (ci >= nids)
			c = -1;
		else
			c = MatchBytesCmp(start->offers[si].id, start->offers[si].len,
							  ids[ci].id, ids[ci].len);
		if (c < 0)
		{
			copy_offer(&start->offers[si++], cxt, x);
			ov->n++;
			continue;
		}
		if (c == 0)
			si++;
		if (!load_offer(&rd, ids[ci].id, ids[ci].len, cxt, x))
		{
			table_close(rd.offers, AccessShareLock);
			table_close(rd.offer_tags, AccessShareLock);
			MemoryContextDelete(cxt);
			return OVERLAY_REBUILD;
		}
		ci++;
		/* an offer added and removed since the base: nothing to say */
		if (x->exists || x->base >= 0)
			ov->n++;
	}
	table_close(rd.offers, AccessShareLock);
	table_close(rd.offer_tags, AccessShareLock);
	finalize(ov, base);

	if (keep)
	{
		MatchOverlayForget();
		kept = ov;
		kept_base = base;
	}
	*out = ov;
	return OVERLAY_OK;
}
