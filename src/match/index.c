/*-------------------------------------------------------------------------
 *
 * index.c
 *	  The bottom of match(): the relations it reads, and the offer catalog
 *	  as an inverted index: built, laid out flat, viewed, freed, and the
 *	  lookups in it.
 *
 * The catalog index: see match.c for the rule, its freshness and the life
 * cycle of the index.  The index is built from offers, offer_tags, tag and
 * data_category through the statement's snapshot, into one flat block of
 * memory (a "blob" of arrays at offsets, so that it can live in a dynamic
 * shared memory segment mapped at a different address in each backend:
 * shared.c); a MatchCatalog points into it.  Which index a statement uses
 * is catalog.c's business; an offer reference may name an offer of the
 * overlay of changed offers (overlay.c), which the lookups here read.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/index.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "match/index.h"
#include "base/citus.h"
#include "base/extension.h"
#include "base/names.h"
#include "base/relations.h"

static MatchRels rels;

/*
 * The flat layout of a catalog: a header, then each array at a MAXALIGNed
 * offset.  Nothing in it is a pointer.
 */
typedef enum CatalogPart
{
	CP_IDS,
	CP_ID_OFF,
	CP_STARTS,
	CP_ENDS,
	CP_PRIORITY,
	CP_ENABLED,
	CP_BY_PRIORITY,
	CP_TAG_TEXT,				/* names and labels, NUL-terminated */
	CP_TAG_OFF,					/* 2 * ntags offsets into CP_TAG_TEXT */
	CP_TAG_REFUSED,
	CP_POST_START,
	CP_POSTINGS,
	CP_BLOCK_POST,
	CP_BLOCK_MAX,
	CP_NPARTS
} CatalogPart;

#define CATALOG_BLOB_MAGIC	0x50534D43	/* "PSMC" */

typedef struct CatalogBlob
{
	uint32		magic;
	Oid			version_relid;
	int64		version;
	int32		noffers;
	int32		nby_priority;
	int32		ntags;
	int32		refused_tags;
	int32		nblocks;
	uint64		npostings;
	double		build_ms;
	TimestampTz built_at;
	Size		size;
	Size		part[CP_NPARTS];
} CatalogBlob;

/* an index being built: its arrays, before they are laid out flat */
struct MatchBuild
{
	MatchCatalog *b;			/* in its own scratch context, b->cxt */
	Size		size;			/* of its blob */
	instr_time	start;
};

/* ---------- looking up the relations ---------- */

/*
 * The relations match() reads, unless still known.
 */
const MatchRels *
MatchRelsGet(void)
{
	MatchRels	r;
	const char *what = "match()";
	uint64		epoch = PersonalizeRelationsEpoch();

	if (rels.valid && rels.epoch == epoch)
		return &rels;

	/*
	 * On a Citus worker a match() over a distributed table's rows runs
	 * here, next to the shards: the node's shards of the copies distribute()
	 * keeps, written by the coordinator in the same distributed transaction
	 * as the tables they copy (sql/src/base-citus.sql).  Same keys, same
	 * column names, so the rest reads either alike.
	 */
	r.citus_copies = PersonalizeReadsCopies();
	r.version_relid = PersonalizeReadRelid(REL_MATCH_VERSION, what);
	r.version_pkey = PersonalizeReadRelid(IDX_MATCH_VERSION_PKEY, what);
	r.offers_relid = PersonalizeReadRelid(REL_OFFERS, what);
	r.offers_pkey = PersonalizeReadRelid(IDX_OFFERS_PKEY, what);
	r.offer_tags_relid = PersonalizeReadRelid(REL_OFFER_TAGS, what);
	r.offer_tags_pkey = PersonalizeReadRelid(IDX_OFFER_TAGS_PKEY, what);

	/*
	 * The change log came in 0.3.0: with the SQL of an older version (the
	 * library is updated before ALTER EXTENSION UPDATE) every catalog change
	 * rebuilds the index, as it did then.
	 */
	r.change_relid = PersonalizeReadRelidIfExists(REL_MATCH_CHANGE, what);
	r.change_idx = OidIsValid(r.change_relid) ?
		PersonalizeReadRelid(IDX_MATCH_CHANGE_VERSION, what) : InvalidOid;
	r.tag_relid = PersonalizeReadRelid(REL_TAG, what);
	r.category_relid = PersonalizeReadRelid(REL_DATA_CATEGORY, what);
	/*
	 * Intents and signals placed by subject (distribute(colocate_with)),
	 * in tables outside the extension.  A name not found is not kept, so
	 * their creation alone changes no epoch: distribute() also empties
	 * the reference copies, whose kept shards' invalidation does.
	 */
	r.by_subject = false;
	if (r.citus_copies)
	{
		r.intent_relid = PersonalizeRelidIfExists(REL_INTENT_BY_SUBJECT);
		r.signal_relid = PersonalizeRelidIfExists(REL_SIGNAL_BY_SUBJECT);
		r.by_subject = OidIsValid(r.intent_relid) && OidIsValid(r.signal_relid) &&
			PersonalizeCitusTableKind(r.intent_relid) == CITUS_DISTRIBUTED &&
			PersonalizeCitusTableKind(r.signal_relid) == CITUS_DISTRIBUTED;
	}
	if (r.by_subject)
		r.intent_pkey = r.signal_idx = InvalidOid;
	else
	{
		r.intent_relid = PersonalizeReadRelid(REL_INTENT, what);
		r.intent_pkey = PersonalizeReadRelid(IDX_INTENT_PKEY, what);
		r.signal_relid = PersonalizeReadRelid(REL_SIGNAL, what);
		r.signal_idx = PersonalizeReadRelid(IDX_SIGNAL_SUBJECT, what);
	}
	if (OidIsValid(r.change_relid))
	{
		r.ch_version = PersonalizeAttnum(r.change_relid, "version");
		r.ch_offer = PersonalizeAttnum(r.change_relid, "offer_id");
	}
	else
		r.ch_version = r.ch_offer = InvalidAttrNumber;
	r.v_only_row = PersonalizeAttnum(r.version_relid, "only_row");
	r.v_version = PersonalizeAttnum(r.version_relid, "version");
	r.v_horizon = OidIsValid(r.change_relid) ?
		PersonalizeAttnum(r.version_relid, "horizon") : InvalidAttrNumber;
	r.o_id = PersonalizeAttnum(r.offers_relid, "offer_id");
	r.o_priority = PersonalizeAttnum(r.offers_relid, "priority");
	r.o_starts = PersonalizeAttnum(r.offers_relid, "starts_at");
	r.o_ends = PersonalizeAttnum(r.offers_relid, "ends_at");
	r.o_enabled = PersonalizeAttnum(r.offers_relid, "enabled");
	r.ot_offer = PersonalizeAttnum(r.offer_tags_relid, "offer_id");
	r.ot_tag = PersonalizeAttnum(r.offer_tags_relid, "tag");
	r.ot_weight = PersonalizeAttnum(r.offer_tags_relid, "weight");
	r.t_tag = PersonalizeAttnum(r.tag_relid, "tag");
	r.t_category = PersonalizeAttnum(r.tag_relid, "category");
	r.t_description = PersonalizeAttnum(r.tag_relid, "description");
	r.c_name = PersonalizeAttnum(r.category_relid, "name");
	r.c_sensitivity = PersonalizeAttnum(r.category_relid, "sensitivity");
	r.c_demographic = PersonalizeAttnum(r.category_relid, "demographic");
	r.c_proxy_for = PersonalizeAttnum(r.category_relid, "proxy_for");
	r.i_subject = PersonalizeAttnum(r.intent_relid, "subject");
	r.i_tag = PersonalizeAttnum(r.intent_relid, "tag");
	r.i_weight = PersonalizeAttnum(r.intent_relid, "weight");
	r.s_subject = PersonalizeAttnum(r.signal_relid, "subject");
	r.s_tag = PersonalizeAttnum(r.signal_relid, "tag");
	r.s_kind = PersonalizeAttnum(r.signal_relid, "kind");
	r.s_weight = PersonalizeAttnum(r.signal_relid, "weight");
	r.s_at = PersonalizeAttnum(r.signal_relid, "at");
	r.s_offer = PersonalizeAttnum(r.signal_relid, "offer_id");
	r.valid = true;
	r.epoch = epoch;
	rels = r;
	return &rels;
}

/*
 * The relations, if they are known and still current, without looking
 * them up (for a transaction callback, which must not read the catalogs);
 * or NULL.
 */
const MatchRels *
MatchRelsKnown(void)
{
	if (rels.valid && rels.epoch == PersonalizeRelationsEpoch())
		return &rels;
	return NULL;
}

/* ---------- looking up offers and tags ---------- */

/* the offer number of an id, or -1 */
int32
MatchFindOffer(const MatchCatalog *cat, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = cat->noffers - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		const char *id = cat->ids + cat->id_off[mid];
		int			c = MatchBytesCmp(id, cat->id_off[mid + 1] - cat->id_off[mid] - 1, s, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* the tag number of a name, or -1 */
int32
MatchFindTag(const MatchCatalog *cat, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = cat->ntags - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		const char *name = cat->tag_names[mid];
		int			c = MatchBytesCmp(name, strlen(name), s, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* the index of an id in the overlay, or -1 */
int32
MatchOverlayFind(const MatchOverlay *ov, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = ov->n - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		const OverlayOffer *x = &ov->offers[mid];
		int			c = MatchBytesCmp(x->id, x->len, s, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * The offer reference of an id (an offer of the overlay first), or -1.
 */
int32
MatchFindOfferRef(const MatchCatalog *cat, const char *s, Size len)
{
	if (cat->ov != NULL)
	{
		int32		i = MatchOverlayFind(cat->ov, s, len);

		if (i >= 0)
			return cat->ov->offers[i].exists ? cat->noffers + i : -1;
	}
	/* a base offer the overlay does not name is not masked */
	return MatchFindOffer(cat, s, len);
}

/* the id of an offer reference, not NUL-terminated */
const char *
MatchOfferId(const MatchCatalog *cat, int32 o, int *len)
{
	if (MatchIsOverlay(cat, o))
	{
		const OverlayOffer *x = MatchOverlayOffer(cat, o);

		*len = x->len;
		return x->id;
	}
	*len = cat->id_off[o + 1] - cat->id_off[o] - 1;
	return cat->ids + cat->id_off[o];
}

/*
 * The weight with which offer o carries tag t, or 0 if it does not (offer
 * tag weights are positive).  For a base offer, a binary search within the
 * postings of t in o's block, which the block table gives.
 */
float4
MatchPostingWeight(const MatchCatalog *cat, int32 t, int32 o)
{
	const Posting *list;
	const uint32 *row;
	int32		b;
	uint32		lo;
	uint32		hi;

	if (MatchIsOverlay(cat, o))
	{
		const OverlayOffer *x = MatchOverlayOffer(cat, o);
		int32		l = 0;
		int32		h = x->npost - 1;

		while (l <= h)
		{
			int32		mid = l + (h - l) / 2;

			if (x->tags[mid] == t)
				return x->weights[mid];
			if (x->tags[mid] < t)
				l = mid + 1;
			else
				h = mid - 1;
		}
		return 0;
	}
	list = &cat->postings[cat->post_start[t]];
	row = &cat->block_post[(Size) t * (cat->nblocks + 1)];
	b = o / MATCH_BLOCK;
	lo = row[b];
	hi = row[b + 1];
	while (lo < hi)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (list[mid].offer == o)
			return list[mid].weight;
		if (list[mid].offer < o)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---------- reading the catalog ---------- */

/* a tag while it is read */
typedef struct TagRow
{
	char	   *name;
	char	   *category;
	char	   *description;
} TagRow;

/* an offer while it is read */
typedef struct OfferRow
{
	char	   *id;
	Size		len;
	int32		priority;
	bool		enabled;
	TimestampTz starts;
	TimestampTz ends;
} OfferRow;

static int
tagrow_cmp(const void *a, const void *b)
{
	return strcmp(((const TagRow *) a)->name, ((const TagRow *) b)->name);
}

static int
offerrow_cmp(const void *a, const void *b)
{
	const OfferRow *x = (const OfferRow *) a;
	const OfferRow *y = (const OfferRow *) b;

	return MatchBytesCmp(x->id, x->len, y->id, y->len);
}

static int
posting_cmp(const void *a, const void *b)
{
	int32		x = ((const Posting *) a)->offer;
	int32		y = ((const Posting *) b)->offer;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* priority DESC, then offer number (offer_id) */
static int
priority_cmp(const void *a, const void *b, void *arg)
{
	const MatchCatalog *cat = (const MatchCatalog *) arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (cat->priority[x] != cat->priority[y])
		return cat->priority[x] > cat->priority[y] ? -1 : 1;
	return x < y ? -1 : (x > y ? 1 : 0);
}

/* a text datum as a NUL-terminated copy in the current context */
static char *
datum_cstring(Datum d)
{
	return TextDatumGetCString(d);
}

/*
 * Tags and their categories: which tags may never be used for targeting
 * (a category that is demographic, sensitive, special or a proxy), and the
 * words of each tag for the reasons.  Returns the tags sorted by name.
 */
static TagRow *
load_tags(const MatchRels *r, Snapshot snap, int32 *ntags_out, bool **refused_out)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	TupleDesc	desc;
	List	   *refused_categories = NIL;
	TagRow	   *tags;
	int32		ntags = 0;
	int32		cap = 256;
	bool	   *refused;

	/* categories that can never be targeted */
	rel = table_open(r->category_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		bool		proxy_null;
		Datum		sens = heap_getattr(tup, r->c_sensitivity, desc, &isnull);
		bool		demographic = DatumGetBool(heap_getattr(tup, r->c_demographic, desc, &isnull));
		char	   *s = datum_cstring(sens);

		(void) heap_getattr(tup, r->c_proxy_for, desc, &proxy_null);
		if (demographic || !proxy_null ||
			strcmp(s, "sensitive") == 0 || strcmp(s, "special") == 0)
			refused_categories = lappend(refused_categories,
										 datum_cstring(heap_getattr(tup, r->c_name, desc, &isnull)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	tags = palloc(cap * sizeof(TagRow));
	rel = table_open(r->tag_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;

		if (ntags == cap)
		{
			cap *= 2;
			tags = repalloc(tags, cap * sizeof(TagRow));
		}
		tags[ntags].name = datum_cstring(heap_getattr(tup, r->t_tag, desc, &isnull));
		tags[ntags].category = datum_cstring(heap_getattr(tup, r->t_category, desc, &isnull));
		d = heap_getattr(tup, r->t_description, desc, &isnull);
		tags[ntags].description = isnull ? NULL : datum_cstring(d);
		ntags++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	qsort(tags, ntags, sizeof(TagRow), tagrow_cmp);
	refused = palloc0(Max(ntags, 1) * sizeof(bool));
	for (int32 i = 0; i < ntags; i++)
	{
		ListCell   *lc;

		foreach(lc, refused_categories)
		{
			if (strcmp(tags[i].category, (char *) lfirst(lc)) == 0)
			{
				refused[i] = true;
				break;
			}
		}
	}
	*ntags_out = ntags;
	*refused_out = refused;
	return tags;
}

/*
 * The words a reason uses for a tag: its description, or its name with
 * "-" and "_" read as spaces.
 */
static char *
tag_label(const TagRow *t)
{
	char	   *label;

	if (t->description != NULL)
	{
		const char *s = t->description;
		Size		len;

		while (*s == ' ')
			s++;
		len = strlen(s);
		while (len > 0 && s[len - 1] == ' ')
			len--;
		if (len > 0)
			return pnstrdup(s, len);
	}
	label = pstrdup(t->name);
	for (char *c = label; *c; c++)
		if (*c == '-' || *c == '_')
			*c = ' ';
	return label;
}

/*
 * Catalog step 1: the tags, with the words of their reasons and whether
 * their category keeps them out of every ranking.
 */
static void
load_catalog_tags(MatchCatalog *cat, const MatchRels *r, Snapshot snap)
{
	MemoryContext cxt = cat->cxt;
	TagRow	   *tags;
	bool	   *refused;
	int32		ntags;

	tags = load_tags(r, snap, &ntags, &refused);
	cat->ntags = ntags;
	cat->tag_names = MemoryContextAlloc(cxt, Max(ntags, 1) * sizeof(char *));
	cat->tag_labels = MemoryContextAlloc(cxt, Max(ntags, 1) * sizeof(char *));
	cat->tag_refused = MemoryContextAlloc(cxt, Max(ntags, 1) * sizeof(bool));
	for (int32 i = 0; i < ntags; i++)
	{
		cat->tag_names[i] = MemoryContextStrdup(cxt, tags[i].name);
		cat->tag_labels[i] = MemoryContextStrdup(cxt, tag_label(&tags[i]));
		cat->tag_refused[i] = refused[i];
		if (refused[i])
			cat->refused_tags++;
	}
}

/*
 * Catalog step 2: the offers, numbered in offer_id order, and the
 * non-personalized order.
 */
static void
load_catalog_offers(MatchCatalog *cat, const MatchRels *r, Snapshot snap)
{
	MemoryContext cxt = cat->cxt;
	OfferRow   *offers;
	int64		noffers = 0;
	int64		offers_cap = 1024;
	Size		ids_len = 0;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	natts;

	offers = palloc(offers_cap * sizeof(OfferRow));
	rel = table_open(r->offers_relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	natts = Max(Max(r->o_id, r->o_priority), Max(Max(r->o_starts, r->o_ends), r->o_enabled));
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		OfferRow   *o;
		text	   *id;

		if ((noffers & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (noffers == offers_cap)
		{
			offers_cap *= 2;
			offers = repalloc_huge(offers, offers_cap * sizeof(OfferRow));
		}
		if (noffers >= PG_INT32_MAX - 1)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many offers for match()")));
		slot_getsomeattrs(slot, natts);
		o = &offers[noffers++];
		id = DatumGetTextPP(slot->tts_values[r->o_id - 1]);
		o->len = VARSIZE_ANY_EXHDR(id);
		o->id = pnstrdup(VARDATA_ANY(id), o->len);
		ids_len += o->len + 1;
		o->priority = DatumGetInt32(slot->tts_values[r->o_priority - 1]);
		o->enabled = DatumGetBool(slot->tts_values[r->o_enabled - 1]);
		o->starts = slot->tts_isnull[r->o_starts - 1] ? DT_NOBEGIN :
			DatumGetTimestampTz(slot->tts_values[r->o_starts - 1]);
		o->ends = slot->tts_isnull[r->o_ends - 1] ? DT_NOEND :
			DatumGetTimestampTz(slot->tts_values[r->o_ends - 1]);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);

	qsort(offers, noffers, sizeof(OfferRow), offerrow_cmp);
	cat->noffers = (int32) noffers;
	cat->ids = MemoryContextAllocHuge(cxt, Max(ids_len, 1));
	if (ids_len > PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the offer ids are too long for match()"),
				 errdetail("Together they take %zu bytes; match() handles up to 4 GB.", ids_len)));
	cat->id_off = MemoryContextAllocHuge(cxt, (noffers + 1) * sizeof(uint32));
	cat->starts = MemoryContextAllocHuge(cxt, Max(noffers, 1) * sizeof(TimestampTz));
	cat->ends = MemoryContextAllocHuge(cxt, Max(noffers, 1) * sizeof(TimestampTz));
	cat->priority = MemoryContextAllocHuge(cxt, Max(noffers, 1) * sizeof(int32));
	cat->enabled = MemoryContextAllocHuge(cxt, Max(noffers, 1) * sizeof(bool));
	cat->by_priority = MemoryContextAllocHuge(cxt, Max(noffers, 1) * sizeof(int32));
	{
		uint32		off = 0;

		for (int32 i = 0; i < cat->noffers; i++)
		{
			cat->id_off[i] = off;
			memcpy(cat->ids + off, offers[i].id, offers[i].len + 1);
			off += offers[i].len + 1;
			cat->starts[i] = offers[i].starts;
			cat->ends[i] = offers[i].ends;
			cat->priority[i] = offers[i].priority;
			cat->enabled[i] = offers[i].enabled;
			if (offers[i].enabled)
				cat->by_priority[cat->nby_priority++] = i;
		}
		cat->id_off[cat->noffers] = off;
	}
	qsort_arg(cat->by_priority, cat->nby_priority, sizeof(int32), priority_cmp, cat);
	/* the rows are copied: free them before reading the tags of offers */
	for (int32 i = 0; i < cat->noffers; i++)
		pfree(offers[i].id);
	pfree(offers);
}

/*
 * Catalog step 3: the rows of offer_tags, as postings by tag, each list
 * sorted by offer.
 */
static void
load_catalog_postings(MatchCatalog *cat, const MatchRels *r, Snapshot snap)
{
	MemoryContext cxt = cat->cxt;
	int32		ntags = cat->ntags;
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int32	   *row_tag;
	int32	   *row_offer;
	float4	   *row_weight;
	uint64		nrows = 0;
	uint64		rows_cap = 8192;
	uint64	   *counts;
	uint64	   *fill;
	AttrNumber	natts;
	int32		last_offer = -1;
	int32		last_tag = -1;

	row_tag = palloc_extended(rows_cap * sizeof(int32), MCXT_ALLOC_HUGE);
	row_offer = palloc_extended(rows_cap * sizeof(int32), MCXT_ALLOC_HUGE);
	row_weight = palloc_extended(rows_cap * sizeof(float4), MCXT_ALLOC_HUGE);
	counts = palloc0((ntags + 1) * sizeof(uint64));
	rel = table_open(r->offer_tags_relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snap, 0, NULL);
	natts = Max(Max(r->ot_offer, r->ot_tag), r->ot_weight);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		text	   *offer;
		text	   *tag;
		int32		o;
		int32		t;

		if ((nrows & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, natts);
		offer = DatumGetTextPP(slot->tts_values[r->ot_offer - 1]);
		tag = DatumGetTextPP(slot->tts_values[r->ot_tag - 1]);

		/* rows of one offer usually come together: try the last one first */
		if (last_offer >= 0 &&
			MatchBytesCmp(cat->ids + cat->id_off[last_offer],
					  cat->id_off[last_offer + 1] - cat->id_off[last_offer] - 1,
					  VARDATA_ANY(offer), VARSIZE_ANY_EXHDR(offer)) == 0)
			o = last_offer;
		else
			o = last_offer = MatchFindOffer(cat, VARDATA_ANY(offer), VARSIZE_ANY_EXHDR(offer));
		if (last_tag >= 0 &&
			MatchBytesCmp(cat->tag_names[last_tag], strlen(cat->tag_names[last_tag]),
					  VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag)) == 0)
			t = last_tag;
		else
			t = last_tag = MatchFindTag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));
		/*
		 * The foreign keys make both exist in the same snapshot, unless a
		 * row was written behind them (session_replication_role = replica).
		 */
		if (o < 0 || t < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("offer_tags row for offer \"%s\" and tag \"%s\" refers to a missing %s",
							text_to_cstring(offer), text_to_cstring(tag),
							o < 0 ? "offer" : "tag"),
					 errdetail("The foreign keys of personalize.offer_tags were bypassed, for example with session_replication_role = replica."),
					 errhint("Delete the row, or restore the %s it names.",
							 o < 0 ? "offer" : "tag")));
		if (cat->tag_refused[t])
			continue;
		if (nrows == rows_cap)
		{
			rows_cap *= 2;
			row_tag = repalloc_huge(row_tag, rows_cap * sizeof(int32));
			row_offer = repalloc_huge(row_offer, rows_cap * sizeof(int32));
			row_weight = repalloc_huge(row_weight, rows_cap * sizeof(float4));
		}
		row_tag[nrows] = t;
		row_offer[nrows] = o;
		row_weight[nrows] = DatumGetFloat4(slot->tts_values[r->ot_weight - 1]);
		counts[t]++;
		nrows++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);

	/* postings by tag, each list sorted by offer */
	cat->npostings = nrows;
	cat->post_start = MemoryContextAllocHuge(cxt, (ntags + 1) * sizeof(uint64));
	cat->postings = MemoryContextAllocHuge(cxt, Max(nrows, 1) * sizeof(Posting));
	fill = palloc((ntags + 1) * sizeof(uint64));
	cat->post_start[0] = 0;
	for (int32 t = 0; t < ntags; t++)
		cat->post_start[t + 1] = cat->post_start[t] + counts[t];
	memcpy(fill, cat->post_start, (ntags + 1) * sizeof(uint64));
	for (uint64 i = 0; i < nrows; i++)
	{
		Posting    *p = &cat->postings[fill[row_tag[i]]++];

		p->offer = row_offer[i];
		p->weight = row_weight[i];
	}
	for (int32 t = 0; t < ntags; t++)
	{
		Posting    *p = &cat->postings[cat->post_start[t]];
		uint64		n = cat->post_start[t + 1] - cat->post_start[t];
		bool		sorted = true;

		for (uint64 i = 1; i < n && sorted; i++)
			sorted = p[i - 1].offer < p[i].offer;
		if (!sorted)
			qsort(p, n, sizeof(Posting), posting_cmp);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Catalog step 4: where each tag's postings cross into each block of
 * MATCH_BLOCK offers, and the largest weight of each tag in each block
 * (the bounds that let a ranking skip what cannot reach its top k).
 */
static void
build_block_index(MatchCatalog *cat)
{
	MemoryContext cxt = cat->cxt;
	int32		ntags = cat->ntags;

	cat->nblocks = (cat->noffers + MATCH_BLOCK - 1) / MATCH_BLOCK;
	cat->block_post = MemoryContextAllocHuge(cxt, (Size) Max(ntags, 1) * (cat->nblocks + 1) * sizeof(uint32));
	cat->block_max = MemoryContextAllocHuge(cxt, (Size) Max(ntags, 1) * Max(cat->nblocks, 1) * sizeof(float4));
	for (int32 t = 0; t < ntags; t++)
	{
		uint32	   *row = &cat->block_post[(Size) t * (cat->nblocks + 1)];
		float4	   *max = &cat->block_max[(Size) t * cat->nblocks];
		uint64		n = cat->post_start[t + 1] - cat->post_start[t];
		Posting    *p = &cat->postings[cat->post_start[t]];
		uint64		i = 0;

		if (n > PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many offers carry tag \"%s\" for match()", cat->tag_names[t])));
		for (int32 b = 0; b <= cat->nblocks; b++)
		{
			float4		m = 0;

			while (i < n && p[i].offer < b * MATCH_BLOCK)
			{
				m = Max(m, p[i].weight);
				i++;
			}
			row[b] = (uint32) i;
			if (b > 0)
				max[b - 1] = m;
		}
	}
}

/* ---------- the flat layout ---------- */

/* the size of each part of the blob of a built catalog */
static void
blob_part_sizes(const MatchCatalog *b, Size *sizes)
{
	Size		text = 0;

	for (int32 t = 0; t < b->ntags; t++)
		text += strlen(b->tag_names[t]) + 1 + strlen(b->tag_labels[t]) + 1;
	sizes[CP_IDS] = b->id_off[b->noffers];
	sizes[CP_ID_OFF] = (Size) (b->noffers + 1) * sizeof(uint32);
	sizes[CP_STARTS] = (Size) b->noffers * sizeof(TimestampTz);
	sizes[CP_ENDS] = (Size) b->noffers * sizeof(TimestampTz);
	sizes[CP_PRIORITY] = (Size) b->noffers * sizeof(int32);
	sizes[CP_ENABLED] = (Size) b->noffers * sizeof(bool);
	sizes[CP_BY_PRIORITY] = (Size) b->nby_priority * sizeof(int32);
	sizes[CP_TAG_TEXT] = text;
	sizes[CP_TAG_OFF] = (Size) b->ntags * 2 * sizeof(uint32);
	sizes[CP_TAG_REFUSED] = (Size) b->ntags * sizeof(bool);
	sizes[CP_POST_START] = (Size) (b->ntags + 1) * sizeof(uint64);
	sizes[CP_POSTINGS] = (Size) b->npostings * sizeof(Posting);
	sizes[CP_BLOCK_POST] = (Size) b->ntags * (b->nblocks + 1) * sizeof(uint32);
	sizes[CP_BLOCK_MAX] = (Size) b->ntags * b->nblocks * sizeof(float4);
}

/* the blob's size, with the part offsets in header (if not NULL) */
static Size
blob_layout(const MatchCatalog *b, CatalogBlob *header)
{
	Size		sizes[CP_NPARTS];
	Size		off = MAXALIGN(sizeof(CatalogBlob));

	blob_part_sizes(b, sizes);
	for (int i = 0; i < CP_NPARTS; i++)
	{
		if (header)
			header->part[i] = off;
		off += MAXALIGN(sizes[i]);
	}
	return off;
}

/*
 * Copy a built catalog into blob (of blob_layout()'s size).
 */
static void
blob_pack(const MatchCatalog *b, char *blob)
{
	CatalogBlob *h = (CatalogBlob *) blob;
	Size		sizes[CP_NPARTS];
	char	   *text;
	uint32	   *tag_off;
	uint32		toff = 0;

	memset(h, 0, sizeof(CatalogBlob));
	h->magic = CATALOG_BLOB_MAGIC;
	h->version_relid = b->version_relid;
	h->version = b->version;
	h->noffers = b->noffers;
	h->nby_priority = b->nby_priority;
	h->ntags = b->ntags;
	h->refused_tags = b->refused_tags;
	h->nblocks = b->nblocks;
	h->npostings = b->npostings;
	h->size = blob_layout(b, h);
	blob_part_sizes(b, sizes);

#define PUT(which, src) memcpy(blob + h->part[which], (src), sizes[which])
	PUT(CP_IDS, b->ids);
	PUT(CP_ID_OFF, b->id_off);
	PUT(CP_STARTS, b->starts);
	PUT(CP_ENDS, b->ends);
	PUT(CP_PRIORITY, b->priority);
	PUT(CP_ENABLED, b->enabled);
	PUT(CP_BY_PRIORITY, b->by_priority);
	PUT(CP_TAG_REFUSED, b->tag_refused);
	PUT(CP_POST_START, b->post_start);
	PUT(CP_POSTINGS, b->postings);
	PUT(CP_BLOCK_POST, b->block_post);
	PUT(CP_BLOCK_MAX, b->block_max);
#undef PUT
	text = blob + h->part[CP_TAG_TEXT];
	tag_off = (uint32 *) (blob + h->part[CP_TAG_OFF]);
	for (int32 t = 0; t < b->ntags; t++)
	{
		Size		n = strlen(b->tag_names[t]) + 1;
		Size		l = strlen(b->tag_labels[t]) + 1;

		tag_off[2 * t] = toff;
		memcpy(text + toff, b->tag_names[t], n);
		toff += n;
		tag_off[2 * t + 1] = toff;
		memcpy(text + toff, b->tag_labels[t], l);
		toff += l;
	}
}

/*
 * A catalog over a blob, in a context of its own under parent.  The blob
 * is not copied: it must outlive the catalog (it is in the catalog's
 * context, or in a mapped segment: shared.c).
 */
MatchCatalog *
MatchCatalogView(char *blob, MemoryContext parent)
{
	CatalogBlob *h = (CatalogBlob *) blob;
	MemoryContext cxt;
	MatchCatalog *cat;
	char	   *text;
	uint32	   *tag_off;

	Assert(h->magic == CATALOG_BLOB_MAGIC);
	cxt = AllocSetContextCreate(parent, "personalize match catalog",
								ALLOCSET_SMALL_SIZES);
	cat = MemoryContextAllocZero(cxt, sizeof(MatchCatalog));
	cat->cxt = cxt;
	cat->blob = blob;
	cat->blob_size = h->size;
	cat->version_relid = h->version_relid;
	cat->version = h->version;
	cat->noffers = h->noffers;
	cat->nby_priority = h->nby_priority;
	cat->ntags = h->ntags;
	cat->refused_tags = h->refused_tags;
	cat->nblocks = h->nblocks;
	cat->npostings = h->npostings;
	cat->build_ms = h->build_ms;
	cat->built_at = h->built_at;
	cat->mem_bytes = h->size;
	cat->ids = blob + h->part[CP_IDS];
	cat->id_off = (uint32 *) (blob + h->part[CP_ID_OFF]);
	cat->starts = (TimestampTz *) (blob + h->part[CP_STARTS]);
	cat->ends = (TimestampTz *) (blob + h->part[CP_ENDS]);
	cat->priority = (int32 *) (blob + h->part[CP_PRIORITY]);
	cat->enabled = (bool *) (blob + h->part[CP_ENABLED]);
	cat->by_priority = (int32 *) (blob + h->part[CP_BY_PRIORITY]);
	cat->tag_refused = (bool *) (blob + h->part[CP_TAG_REFUSED]);
	cat->post_start = (uint64 *) (blob + h->part[CP_POST_START]);
	cat->postings = (Posting *) (blob + h->part[CP_POSTINGS]);
	cat->block_post = (uint32 *) (blob + h->part[CP_BLOCK_POST]);
	cat->block_max = (float4 *) (blob + h->part[CP_BLOCK_MAX]);
	cat->tag_names = MemoryContextAlloc(cxt, Max(cat->ntags, 1) * sizeof(char *));
	cat->tag_labels = MemoryContextAlloc(cxt, Max(cat->ntags, 1) * sizeof(char *));
	text = blob + h->part[CP_TAG_TEXT];
	tag_off = (uint32 *) (blob + h->part[CP_TAG_OFF]);
	for (int32 t = 0; t < cat->ntags; t++)
	{
		cat->tag_names[t] = text + tag_off[2 * t];
		cat->tag_labels[t] = text + tag_off[2 * t + 1];
	}
	return cat;
}

/* ---------- building ---------- */

/*
 * Build the catalog index through the snapshot, in four steps, in a
 * scratch context under CurrentMemoryContext; MatchBuildFinish() then lays
 * it out flat wherever the caller put a blob of MatchBuildSize() bytes.
 */
MatchBuild *
MatchBuildStart(const MatchRels *r, Snapshot snap, int64 version)
{
	MemoryContext scratch;
	MemoryContext old;
	MatchCatalog *b;
	MatchBuild *build;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "personalize match catalog build",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(scratch);
	b = palloc0(sizeof(MatchCatalog));
	b->cxt = scratch;
	b->version_relid = r->version_relid;
	b->version = version;
	load_catalog_tags(b, r, snap);
	load_catalog_offers(b, r, snap);
	load_catalog_postings(b, r, snap);
	build_block_index(b);
	build = palloc(sizeof(MatchBuild));
	MemoryContextSwitchTo(old);

	build->b = b;
	build->size = blob_layout(b, NULL);
	build->start = start;
	return build;
}

/* the size of the blob of an index being built */
Size
MatchBuildSize(const MatchBuild *build)
{
	return build->size;
}

/*
 * Lay an index being built out flat into blob (of MatchBuildSize() bytes)
 * and return the catalog over it, in a context of its own under parent;
 * the build is freed.  The blob is not copied: it must outlive the catalog
 * (as for MatchCatalogView()).
 */
MatchCatalog *
MatchBuildFinish(MatchBuild *build, char *blob, MemoryContext parent)
{
	MatchCatalog *cat;
	Size		size = build->size;
	instr_time	start = build->start;
	instr_time	elapsed;

	blob_pack(build->b, blob);
	cat = MatchCatalogView(blob, parent);

	MemoryContextDelete(build->b->cxt);	/* the build goes with its scratch */
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	((CatalogBlob *) blob)->build_ms = cat->build_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	((CatalogBlob *) blob)->built_at = cat->built_at = GetCurrentTimestamp();
	cat->mem_bytes = size;
	return cat;
}

/* drop an index being built (its blob could not be had) */
void
MatchBuildCancel(MatchBuild *build)
{
	MemoryContextDelete(build->b->cxt);
}

/*
 * Build the catalog index through the snapshot and lay it out flat in the
 * new catalog's own context under parent (shared.c builds into a shared
 * segment).
 */
MatchCatalog *
MatchCatalogBuild(const MatchRels *r, Snapshot snap, int64 version, MemoryContext parent)
{
	MatchBuild *build = MatchBuildStart(r, snap, version);
	MemoryContext holder;
	char	   *blob;
	MatchCatalog *cat;

	holder = AllocSetContextCreate(parent, "personalize match catalog blob",
								   ALLOCSET_SMALL_SIZES);
	blob = MemoryContextAllocHuge(holder, MatchBuildSize(build));
	cat = MatchBuildFinish(build, blob, parent);
	MemoryContextSetParent(holder, cat->cxt);	/* the blob goes with the catalog */
	return cat;
}

/* ---------- freeing ---------- */

/*
 * Free a catalog: its context, and its mapping of the shared index.
 */
void
MatchCatalogFree(MatchCatalog *cat)
{
	if (cat->seg != NULL)
		dsm_detach((dsm_segment *) cat->seg);
	MemoryContextDelete(cat->cxt);
}
