/*-------------------------------------------------------------------------
 *
 * match_catalog.c
 *	  match()'s catalog phase: the relations it reads, the catalog version, and
 *	  the offer catalog as an inverted index, built, kept and invalidated.
 *
 * The catalog cache: see match.c for the rule and its freshness.  The
 * index is built from offers, offer_tags, tag and data_category through the
 * statement's snapshot, kept under CacheMemoryContext when it fits
 * personalize.match_cache_mem, and freed at the transaction end after an
 * invalidation; match_catalog_version says whether it is current.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

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

#include "common.h"
#include "match_internal.h"

PG_FUNCTION_INFO_V1(personalize_match_cache_info);
PG_FUNCTION_INFO_V1(personalize_match_invalidate);

static MatchRels rels;

/* the kept catalog, or NULL */
static MatchCatalog *cached = NULL;

/* an invalidation arrived: free the kept catalog at transaction end */
static bool cache_inval_pending = false;

/* what the last build in this backend was, for match_cache_info() */
typedef struct BuildInfo
{
	bool		valid;
	bool		kept;
	int64		version;
	int32		noffers;
	int32		ntags;
	uint64		npostings;
	Size		mem_bytes;
	double		build_ms;
	TimestampTz built_at;
	int64		builds;
	int64		warned_version; /* the catalog version a WARNING was given for */
} BuildInfo;

static BuildInfo last_build = {false, false, 0, 0, 0, 0, 0, 0, 0, 0, -1};

/* ---------- invalidation ---------- */

/*
 * Free the kept catalog.
 */
static void
cache_free(void)
{
	if (cached != NULL)
	{
		MemoryContext cxt = cached->cxt;

		cached = NULL;
		MemoryContextDelete(cxt);
	}
}

/*
 * Relcache invalidation.  Only flags: a callback can run in the middle of
 * a match() that is using the cache (any table_open accepts invalidation
 * messages).
 */
static void
match_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (cached != NULL && relid == cached->version_relid)
		cache_inval_pending = true;
	if (rels.valid &&
		(relid == InvalidOid ||
		 relid == rels.version_relid || relid == rels.version_pkey ||
		 relid == rels.offers_relid || relid == rels.offer_tags_relid ||
		 relid == rels.tag_relid || relid == rels.category_relid ||
		 relid == rels.intent_relid || relid == rels.intent_pkey ||
		 relid == rels.signal_relid || relid == rels.signal_idx))
		rels.valid = false;
}

/*
 * At transaction end, free a catalog an invalidation made stale.  An idle
 * session does this when it catches up with the invalidation queue.
 */
static void
match_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT)
		return;
	if (cache_inval_pending)
	{
		cache_inval_pending = false;
		cache_free();
	}
}

/*
 * Register the callbacks that keep the relations and the cache honest.
 */
void
MatchCatalogInit(void)
{
	CacheRegisterRelcacheCallback(match_relcache_callback, (Datum) 0);
	RegisterXactCallback(match_xact_callback, NULL);
}

/* ---------- looking up the relations ---------- */

/*
 * The relations match() reads, unless still known.
 */
const MatchRels *
MatchRelsGet(void)
{
	MatchRels	r;

	if (rels.valid)
		return &rels;
	r.version_relid = PersonalizeRelid(REL_MATCH_VERSION);
	r.version_pkey = PersonalizeRelid(IDX_MATCH_VERSION_PKEY);
	r.offers_relid = PersonalizeRelid(REL_OFFERS);
	r.offer_tags_relid = PersonalizeRelid(REL_OFFER_TAGS);
	r.tag_relid = PersonalizeRelid(REL_TAG);
	r.category_relid = PersonalizeRelid(REL_DATA_CATEGORY);
	r.intent_relid = PersonalizeRelid(REL_INTENT);
	r.intent_pkey = PersonalizeRelid(IDX_INTENT_PKEY);
	r.signal_relid = PersonalizeRelid(REL_SIGNAL);
	r.signal_idx = PersonalizeRelid(IDX_SIGNAL_SUBJECT);
	r.v_only_row = PersonalizeAttnum(r.version_relid, "only_row");
	r.v_version = PersonalizeAttnum(r.version_relid, "version");
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
	rels = r;
	return &rels;
}

/*
 * The catalog version the snapshot sees.  *own is set when our own open
 * transaction wrote it.
 */
static int64
catalog_version(const MatchRels *r, Snapshot snap, bool *own)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		isnull;
	int64		version;

	rel = table_open(r->version_relid, AccessShareLock);
	ScanKeyInit(&key, r->v_only_row, BTEqualStrategyNumber, F_BOOLEQ,
				BoolGetDatum(true));
	scan = systable_beginscan(rel, r->version_pkey, true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"personalize.match_catalog_version\" has no row"),
				 errhint("Put it back with a new version: INSERT INTO personalize.match_catalog_version VALUES (true, extract(epoch FROM now())::bigint, now()).")));
	version = DatumGetInt64(heap_getattr(tup, r->v_version, RelationGetDescr(rel), &isnull));
	*own = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* ---------- building the catalog ---------- */

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

/*
 * The weight with which offer o carries tag t, or 0 if it does not (offer
 * tag weights are positive).  A binary search within the postings of t in
 * o's block, which the block table gives.
 */
float4
MatchPostingWeight(const MatchCatalog *cat, int32 t, int32 o)
{
	const Posting *list = &cat->postings[cat->post_start[t]];
	const uint32 *row = &cat->block_post[(Size) t * (cat->nblocks + 1)];
	int32		b = o / MATCH_BLOCK;
	uint32		lo = row[b];
	uint32		hi = row[b + 1];

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
 * MATCH_BLOCK offers.
 */
static void
build_block_index(MatchCatalog *cat)
{
	MemoryContext cxt = cat->cxt;
	int32		ntags = cat->ntags;

	cat->nblocks = (cat->noffers + MATCH_BLOCK - 1) / MATCH_BLOCK;
	cat->block_post = MemoryContextAllocHuge(cxt, (Size) Max(ntags, 1) * (cat->nblocks + 1) * sizeof(uint32));
	for (int32 t = 0; t < ntags; t++)
	{
		uint32	   *row = &cat->block_post[(Size) t * (cat->nblocks + 1)];
		uint64		n = cat->post_start[t + 1] - cat->post_start[t];
		Posting    *p = &cat->postings[cat->post_start[t]];
		uint64		i = 0;

		if (n > PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many offers carry tag \"%s\" for match()", cat->tag_names[t])));
		for (int32 b = 0; b <= cat->nblocks; b++)
		{
			while (i < n && p[i].offer < b * MATCH_BLOCK)
				i++;
			row[b] = (uint32) i;
		}
	}
}

/*
 * Build the catalog index through the snapshot, in a context of its own
 * under parent, in four steps.
 */
static MatchCatalog *
MatchCatalogLoad(const MatchRels *r, Snapshot snap, int64 version,
				 MemoryContext parent)
{
	MemoryContext cxt;
	MemoryContext scratch;
	MemoryContext old;
	MatchCatalog *cat;
	instr_time	start;
	instr_time	elapsed;

	INSTR_TIME_SET_CURRENT(start);
	cxt = AllocSetContextCreate(parent, "personalize match catalog",
								ALLOCSET_DEFAULT_SIZES);
	scratch = AllocSetContextCreate(parent, "personalize match catalog build",
									ALLOCSET_DEFAULT_SIZES);
	cat = MemoryContextAllocZero(cxt, sizeof(MatchCatalog));
	cat->cxt = cxt;
	cat->version_relid = r->version_relid;
	cat->version = version;

	/* what only the build needs goes to scratch */
	old = MemoryContextSwitchTo(scratch);
	load_catalog_tags(cat, r, snap);
	load_catalog_offers(cat, r, snap);
	load_catalog_postings(cat, r, snap);
	build_block_index(cat);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	cat->build_ms = INSTR_TIME_GET_MILLISEC(elapsed);
	cat->built_at = GetCurrentTimestamp();
	cat->mem_bytes = MemoryContextMemAllocated(cxt, true);
	return cat;
}

/*
 * The catalog as the snapshot sees it: the kept one if it is current,
 * else a new one, kept if it fits in personalize.match_cache_mem.  A
 * catalog that is not kept lives in callcxt, and goes with it.
 */
MatchCatalog *
MatchCatalogGet(Snapshot snap, MemoryContext callcxt)
{
	const MatchRels *r = MatchRelsGet();
	bool		own;
	int64		version = catalog_version(r, snap, &own);
	MatchCatalog *cat;
	bool		keep;

	if (cached != NULL && !own &&
		cached->version_relid == r->version_relid && cached->version == version)
		return cached;

	/* a stale catalog is not needed any more: free it before building */
	cache_free();
	cache_inval_pending = false;
	cat = MatchCatalogLoad(r, snap, version, callcxt);
	keep = !own && cat->mem_bytes <= (Size) match_cache_mem * 1024;

	last_build.valid = true;
	last_build.kept = keep;
	last_build.version = version;
	last_build.noffers = cat->noffers;
	last_build.ntags = cat->ntags;
	last_build.npostings = cat->npostings;
	last_build.mem_bytes = cat->mem_bytes;
	last_build.build_ms = cat->build_ms;
	last_build.built_at = cat->built_at;
	last_build.builds++;

	if (keep)
	{
		MemoryContextSetParent(cat->cxt, CacheMemoryContext);
		cached = cat;
	}
	else if (!own && last_build.warned_version != version)
	{
		last_build.warned_version = version;
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("the offer catalog does not fit in \"personalize.match_cache_mem\""),
				 errdetail("The catalog needs %zu kB; the setting allows %d kB. Every match() call reads the whole catalog until it fits.",
						   (cat->mem_bytes + 1023) / 1024, match_cache_mem),
				 errhint("Raise personalize.match_cache_mem.")));
	}
	elog(DEBUG1, "personalize: built the offer catalog, version " INT64_FORMAT
		 ": %d offers, %d tags, " UINT64_FORMAT " postings, %zu bytes, %.1f ms%s",
		 version, cat->noffers, cat->ntags, cat->npostings, cat->mem_bytes,
		 cat->build_ms, keep ? "" : " (not kept)");
	return cat;
}

/*
 * match_cache_info(): this session's catalog cache.
 */
Datum
personalize_match_cache_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[12];
	bool		nulls[12];
	bool		own;
	int64		version;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, 0, sizeof(nulls));
	version = catalog_version(MatchRelsGet(), GetActiveSnapshot(), &own);
	values[0] = Int64GetDatum(version);
	if (cached != NULL)
		values[1] = Int64GetDatum(cached->version);
	else
		nulls[1] = true;
	values[2] = BoolGetDatum(cached != NULL && !own && cached->version == version &&
							 cached->version_relid == rels.version_relid);
	values[8] = Int64GetDatum((int64) match_cache_mem * 1024);
	if (last_build.valid)
	{
		values[3] = BoolGetDatum(last_build.kept && cached != NULL);
		values[4] = Int32GetDatum(last_build.noffers);
		values[5] = Int32GetDatum(last_build.ntags);
		values[6] = Int64GetDatum((int64) last_build.npostings);
		values[7] = Int64GetDatum((int64) last_build.mem_bytes);
		values[9] = TimestampTzGetDatum(last_build.built_at);
		values[10] = Float8GetDatum(last_build.build_ms);
	}
	else
	{
		values[3] = BoolGetDatum(false);
		for (int i = 4; i <= 10; i++)
			if (i != 8)
				nulls[i] = true;
	}
	values[11] = Int64GetDatum(last_build.builds);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * _match_invalidate(): called by the catalog's statement triggers.  Every
 * backend, this one included, frees its cached catalog at its next
 * transaction end after this transaction commits; match_catalog_version,
 * which the same triggers increment, is what makes the next match() exact.
 */
Datum
personalize_match_invalidate(PG_FUNCTION_ARGS pg_attribute_unused())
{
	CacheInvalidateRelcacheByRelid(MatchRelsGet()->version_relid);
	PG_RETURN_VOID();
}
