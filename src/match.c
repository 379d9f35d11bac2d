/*-------------------------------------------------------------------------
 *
 * match.c
 *	  match(): the offers that best fit what a customer said and did.
 *
 * The rule (README "Intent matching"): for a subject with consent to the
 * built-in purpose "personalization",
 *
 *	affinity(t) = intent weight(t) + sum of signals on t, each
 *				  weight * 2^(-age / personalize.signal_half_life)
 *	score(o)	= sum over tags t of offer o with an affinity of
 *				  affinity(t) * offer tag weight(o, t)
 *
 * and the answer is the k offers with the highest score above 0, ties by
 * offer_id (bytewise).  Offers that are disabled or outside their window at
 * the statement's start, offers carrying a tag the subject said to avoid
 * (a negative intent), and by default offers the subject bought, are never
 * returned.  Each row names its contributing tags, largest first.
 *
 * Without consent, the subject's intents and signals are not read at all;
 * the answer is the non-personalized list (enabled offers in their window,
 * by priority DESC, offer_id), the same for everyone, and its reasons say
 * so.  A consenting subject for whom no offer scores above 0 gets the same
 * list, less the offers they avoid or bought.
 *
 * The catalog cache.  Each backend keeps the offer catalog as an inverted
 * index: tag -> postings (offer number and weight), sorted by offer, and for
 * each tag where its postings cross into each block of MATCH_BLOCK offers.
 * Offers are numbered in offer_id order, so comparing numbers breaks ties by
 * offer_id.  A call reads the subject's intents and signals with two index
 * scans, scores the offers their tags reach block by block (a block's
 * scores stay in the CPU cache), and keeps the best k in a heap; the
 * reasons of those k come from a binary search within one block of each of
 * the subject's tags.  No SQL runs per call, let alone per offer.
 *
 * Freshness.  Every statement that changes offers, offer_tags, tag or
 * data_category increments personalize.match_catalog_version inside the
 * writer's transaction.  match() reads that row through its statement's
 * snapshot (one index probe) and rebuilds the cache when the version is not
 * the one the cache was built from, reading the catalog through the same
 * snapshot.  So a statement sees exactly the catalog its snapshot sees:
 * the relcache invalidation a writer sends arrives only after its commit
 * is visible, and cannot be relied on alone.  It is still sent (by
 * _match_invalidate), so that other backends free a stale cache at their
 * next transaction end instead of holding it until their next match().
 * A version written by our own open transaction may be rolled back and
 * reused, so a catalog built from it is used for that call only.
 *
 * Memory.  A catalog larger than personalize.match_cache_mem is not kept:
 * it is built for the call and freed after it (slow, and said once per
 * session with a WARNING).  match_cache_info() reports the cache.
 *
 * Scale-out note: the tables are read in MatchCatalogLoad(),
 * SubjectLoad(), catalog_version() and (consent) ConsentCheck() only.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match.c
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
#include "consent.h"
#include "match.h"
#include "subject.h"

PG_FUNCTION_INFO_V1(personalize_match);
PG_FUNCTION_INFO_V1(personalize_match_cache_info);
PG_FUNCTION_INFO_V1(personalize_match_stats);
PG_FUNCTION_INFO_V1(personalize_match_invalidate);

/* the largest k match() accepts */
#define MATCH_MAX_K			10000
/* offers scored together: 16384 float8 scores are 128kB, an L2 cache */
#define MATCH_BLOCK			16384
/* named kinds of behaviour per tag, for the reasons */
#define MAX_KINDS_PER_TAG	8
/* the purpose whose consent match() needs */
#define MATCH_PURPOSE		"personalization"

/* GUCs */
static int	signal_half_life = 14 * 24 * 3600;	/* seconds */
static int	match_cache_mem = 256 * 1024;	/* kB */

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

static MatchRels rels;

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

/* scores of one block; a backend computes one ranking at a time */
static double *block_scores = NULL;
static int32 *block_candidates = NULL;

/* ---------- answers counted by kind ---------- */

typedef struct MatchStats
{
	pg_atomic_uint64 personalized;
	pg_atomic_uint64 no_consent;
	pg_atomic_uint64 no_match;
	TimestampTz since;
} MatchStats;

/* in shared memory when the library is preloaded */
static MatchStats *shared_stats = NULL;

/* otherwise per backend */
static uint64 local_personalized = 0;
static uint64 local_no_consent = 0;
static uint64 local_no_match = 0;
static TimestampTz local_since = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

typedef enum MatchKind
{
	MATCH_PERSONALIZED,
	MATCH_NO_CONSENT,
	MATCH_NO_MATCH
} MatchKind;

static void
count_answer(MatchKind kind)
{
	if (shared_stats != NULL)
	{
		pg_atomic_uint64 *c = kind == MATCH_PERSONALIZED ? &shared_stats->personalized :
			kind == MATCH_NO_CONSENT ? &shared_stats->no_consent : &shared_stats->no_match;

		pg_atomic_fetch_add_u64(c, 1);
		return;
	}
	if (kind == MATCH_PERSONALIZED)
		local_personalized++;
	else if (kind == MATCH_NO_CONSENT)
		local_no_consent++;
	else
		local_no_match++;
}

/*
 * Ask for the shared memory of the answer counters.
 */
static void
match_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MatchStats)));
}

/*
 * Create or attach to the answer counters.
 */
static void
match_shmem_startup(void)
{
	bool		found;
	MatchStats *stats;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats = ShmemInitStruct("personalize match statistics", sizeof(MatchStats), &found);
	if (!found)
	{
		pg_atomic_init_u64(&stats->personalized, 0);
		pg_atomic_init_u64(&stats->no_consent, 0);
		pg_atomic_init_u64(&stats->no_match, 0);
		stats->since = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
	shared_stats = stats;
}

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
 * Define the module's GUCs and register its callbacks and hooks.
 */
void
MatchInit(void)
{
	DefineCustomIntVariable("personalize.signal_half_life",
							gettext_noop("Age at which a behaviour signal counts half as much in match()."),
							gettext_noop("A signal's weight is multiplied by 2^(-age / half-life)."),
							&signal_half_life,
							14 * 24 * 3600,
							1,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personalize.match_cache_mem",
							gettext_noop("Memory a session may keep for its cache of the offer catalog."),
							gettext_noop("A larger catalog is built for each match() call and freed after it; 0 never keeps it."),
							&match_cache_mem,
							256 * 1024,
							0,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	CacheRegisterRelcacheCallback(match_relcache_callback, (Datum) 0);
	RegisterXactCallback(match_xact_callback, NULL);
	local_since = GetCurrentTimestamp();

	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = match_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = match_shmem_startup;
	}
}

/* ---------- looking up the relations ---------- */

/*
 * The relations match() reads, unless still known.
 */
static const MatchRels *
match_rels(void)
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

/* bytewise comparison of s[0..slen) and t[0..tlen), as COLLATE "C" */
static inline int
bytes_cmp(const char *s, Size slen, const char *t, Size tlen)
{
	int			c = memcmp(s, t, Min(slen, tlen));

	if (c != 0)
		return c;
	return slen < tlen ? -1 : (slen > tlen ? 1 : 0);
}

/* the offer number of an id, or -1 */
static int32
find_offer(const MatchCatalog *cat, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = cat->noffers - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		const char *id = cat->ids + cat->id_off[mid];
		int			c = bytes_cmp(id, cat->id_off[mid + 1] - cat->id_off[mid] - 1, s, len);

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
static int32
find_tag(const MatchCatalog *cat, const char *s, Size len)
{
	int32		lo = 0;
	int32		hi = cat->ntags - 1;

	while (lo <= hi)
	{
		int32		mid = lo + (hi - lo) / 2;
		const char *name = cat->tag_names[mid];
		int			c = bytes_cmp(name, strlen(name), s, len);

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
static float4
posting_weight(const MatchCatalog *cat, int32 t, int32 o)
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

/* is the offer shown at time now? */
static inline bool
offer_active(const MatchCatalog *cat, int32 o, TimestampTz now)
{
	return cat->enabled[o] && cat->starts[o] <= now && now < cat->ends[o];
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

	return bytes_cmp(x->id, x->len, y->id, y->len);
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
 * Read the catalog through the snapshot and build its index in a new
 * context under parent.
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
	TagRow	   *tags;
	bool	   *refused;
	int32		ntags;
	OfferRow   *offers;
	int64		noffers = 0;
	int64		offers_cap = 1024;
	Size		ids_len = 0;
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

	INSTR_TIME_SET_CURRENT(start);
	cxt = AllocSetContextCreate(parent, "personalize match catalog",
								ALLOCSET_DEFAULT_SIZES);
	scratch = AllocSetContextCreate(parent, "personalize match catalog build",
									ALLOCSET_DEFAULT_SIZES);
	cat = MemoryContextAllocZero(cxt, sizeof(MatchCatalog));
	cat->cxt = cxt;
	cat->version_relid = r->version_relid;
	cat->version = version;

	old = MemoryContextSwitchTo(scratch);

	/* tags */
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

	/* offers, sorted by offer_id */
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

	/* offer_tags, as (tag, offer, weight) rows */
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
			bytes_cmp(cat->ids + cat->id_off[last_offer],
					  cat->id_off[last_offer + 1] - cat->id_off[last_offer] - 1,
					  VARDATA_ANY(offer), VARSIZE_ANY_EXHDR(offer)) == 0)
			o = last_offer;
		else
			o = last_offer = find_offer(cat, VARDATA_ANY(offer), VARSIZE_ANY_EXHDR(offer));
		if (last_tag >= 0 &&
			bytes_cmp(cat->tag_names[last_tag], strlen(cat->tag_names[last_tag]),
					  VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag)) == 0)
			t = last_tag;
		else
			t = last_tag = find_tag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));
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

	/* each tag's block boundaries */
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
static MatchCatalog *
MatchCatalogGet(Snapshot snap, MemoryContext callcxt)
{
	const MatchRels *r = match_rels();
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
static Subject *
SubjectLoad(const MatchCatalog *cat, const char *subject, int len,
			Snapshot snap, TimestampTz now)
{
	const MatchRels *r = match_rels();
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

	sub->cap = 32;
	sub->tags = palloc(sub->cap * sizeof(SubjectTag));
	sub->slot = palloc(Max(cat->ntags, 1) * sizeof(int32));
	memset(sub->slot, -1, Max(cat->ntags, 1) * sizeof(int32));
	sub->purchased = palloc(purchased_cap * sizeof(int32));

	/* intents: the primary key (subject, tag) */
	rel = table_open(r->intent_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, r->i_subject, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(subj));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, r->intent_pkey, true, snap, 1, &key);
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
		t = find_tag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));

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
	rel = table_open(r->signal_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, r->s_subject, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(subj));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, r->signal_idx, true, snap, 1, &key);
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
			bytes_cmp(last_name, last_len, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag)) == 0)
			t = last_tag;
		else
		{
			t = last_tag = find_tag(cat, VARDATA_ANY(tag), VARSIZE_ANY_EXHDR(tag));
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

	/* the offers bought that the catalog still has */
	{
		ListCell   *lc;

		foreach(lc, bought)
		{
			text	   *id = (text *) lfirst(lc);
			int32		o = find_offer(cat, VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));

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

	/* affinities */
	for (int i = 0; i < sub->ntags; i++)
	{
		SubjectTag *st = &sub->tags[i];

		st->affinity = (st->has_intent ? st->intent : 0.0) + st->behaviour;
		st->scoring = !st->avoided && st->affinity != 0.0 &&
			cat->post_start[st->tag + 1] > cat->post_start[st->tag];
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
static bool
purchased(const Subject *sub, int32 o)
{
	return bsearch(&o, sub->purchased, sub->npurchased, sizeof(int32), int32_cmp) != NULL;
}

/* does the offer carry a tag the subject avoids? */
static bool
carries_avoided(const MatchCatalog *cat, const Subject *sub, int32 o)
{
	for (int i = 0; i < sub->ntags; i++)
		if (sub->tags[i].avoided && posting_weight(cat, sub->tags[i].tag, o) > 0)
			return true;
	return false;
}

/* ---------- ranking ---------- */

typedef struct Ranked
{
	double		score;
	int32		offer;
} Ranked;

/* a ranks below b: lower score, or the same score and a later offer_id */
static inline bool
ranks_below(const Ranked *a, const Ranked *b)
{
	return a->score < b->score || (a->score == b->score && a->offer > b->offer);
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

/*
 * Score every offer the subject's tags reach, block by block, and keep the
 * best heapsize active, allowed offers scoring above 0 in heap, sorted best
 * first.  Returns how many were kept.
 */
static int
rank_offers(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
			bool exclude_purchased, int heapsize, Ranked *heap)
{
	int			nscoring = 0;
	int			navoided = 0;
	const uint32 **blocks;		/* each tag's row of cat->block_post */
	const Posting **lists;		/* each tag's postings */
	double	   *aff;
	int			n = 0;
	double		threshold = 0.0;
	int			pi = 0;

	if (heapsize <= 0)
		return 0;
	blocks = palloc(Max(sub->ntags, 1) * sizeof(uint32 *));
	lists = palloc(Max(sub->ntags, 1) * sizeof(Posting *));
	aff = palloc(Max(sub->ntags, 1) * sizeof(double));
	/* scoring tags first, then avoided ones */
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < sub->ntags; i++)
		{
			const SubjectTag *st = &sub->tags[i];
			int			j = nscoring + navoided;

			if (pass == 0 ? !st->scoring : !st->avoided)
				continue;
			blocks[j] = &cat->block_post[(Size) st->tag * (cat->nblocks + 1)];
			lists[j] = &cat->postings[cat->post_start[st->tag]];
			aff[j] = st->affinity;
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
		block_scores = MemoryContextAlloc(TopMemoryContext, MATCH_BLOCK * sizeof(double));
		block_candidates = MemoryContextAlloc(TopMemoryContext, MATCH_BLOCK * sizeof(int32));
	}

	for (int32 b = 0; b < cat->nblocks; b++)
	{
		int32		base = b * MATCH_BLOCK;
		int32		len = Min(MATCH_BLOCK, cat->noffers - base);
		double	   *score = block_scores;	/* score[o - base] */
		int32	   *cand = block_candidates;
		int32		ncand = 0;
		bool		touched = false;

		CHECK_FOR_INTERRUPTS();
		memset(score, 0, len * sizeof(double));
		for (int j = 0; j < nscoring; j++)
		{
			const Posting *p = lists[j] + blocks[j][b];
			const Posting *e = lists[j] + blocks[j][b + 1];
			double		a = aff[j];

			touched |= p < e;
			add_postings(score, p, e, base, a);
		}
		if (!touched)
			continue;
		for (int j = nscoring; j < nscoring + navoided; j++)
		{
			const Posting *p = lists[j] + blocks[j][b];
			const Posting *e = lists[j] + blocks[j][b + 1];

			for (; p < e; p++)
				score[p->offer - base] = -INFINITY;
		}
		if (exclude_purchased)
		{
			for (; pi < sub->npurchased && sub->purchased[pi] < base + len; pi++)
				score[sub->purchased[pi] - base] = -INFINITY;
		}

		/* the offers above the lowest kept score, without branches */
		for (int32 i = 0; i < len; i++)
		{
			cand[ncand] = i;
			ncand += score[i] > threshold;
		}

		/*
		 * Offers come in offer_id order, so an offer tying with the lowest
		 * kept one ranks below it: only a higher score gets in.
		 */
		for (int32 c = 0; c < ncand; c++)
		{
			int32		o = base + cand[c];
			double		s = score[cand[c]];

			if (!(s > threshold) || !offer_active(cat, o, now))
				continue;
			if (n < heapsize)
			{
				heap[n].score = s;
				heap[n].offer = o;
				heap_sift_up(heap, n);
				n++;
				if (n == heapsize)
					threshold = heap[0].score;
			}
			else
			{
				heap[0].score = s;
				heap[0].offer = o;
				heap_sift_down(heap, n, 0);
				threshold = heap[0].score;
			}
		}
	}
	qsort(heap, n, sizeof(Ranked), ranked_cmp);
	pfree(blocks);
	pfree(lists);
	pfree(aff);
	return n;
}

/* one tag's part in an offer's score */
typedef struct Contribution
{
	int			slot;			/* in sub->tags */
	int32		tag;
	double		value;
} Contribution;

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
static int
contributions(const MatchCatalog *cat, const Subject *sub, int32 o, Contribution *out)
{
	int			n = 0;

	for (int s = 0; s < sub->ntags; s++)
	{
		const SubjectTag *st = &sub->tags[s];
		float4		w;

		if (!st->scoring || (w = posting_weight(cat, st->tag, o)) == 0)
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
	int			n = contributions(cat, sub, o, buf);

	return n > 0 ? sub->tags[buf[0].slot].tag : -1;
}

/*
 * Apply the per-tag cap: at most cap offers with the same main reason (the
 * tag of their largest contribution).  Reranks with a larger pool until k
 * offers pass or every candidate was seen.  Returns how many are in out.
 */
static int
rank_with_cap(const MatchCatalog *cat, const Subject *sub, TimestampTz now,
			  bool exclude_purchased, int k, int cap, Ranked *out)
{
	int			pool = Min(cat->noffers, Max(k * 4, k + 32));
	int32	   *per_tag = palloc(Max(cat->ntags, 1) * sizeof(int32));
	Contribution *buf = palloc(Max(cat->ntags, 1) * sizeof(Contribution));

	for (;;)
	{
		Ranked	   *heap = palloc(Max(pool, 1) * sizeof(Ranked));
		int			n = rank_offers(cat, sub, now, exclude_purchased, pool, heap);
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
		if (accepted == k || n < pool || pool >= cat->noffers)
			return accepted;
		pool = (int) Min((int64) cat->noffers, (int64) pool * 4);
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
static char *
reason_text(const MatchCatalog *cat, const SubjectTag *st)
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

static Datum
reasons_array(List *texts)
{
	Datum	   *elems = palloc(Max(list_length(texts), 1) * sizeof(Datum));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, texts)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---------- the SQL functions ---------- */

static void
put_row(ReturnSetInfo *rsinfo, const MatchCatalog *cat, int32 o, bool has_score,
		double score, Datum reasons)
{
	Datum		values[3];
	bool		nulls[3] = {false, !has_score, false};

	values[0] = PointerGetDatum(cstring_to_text_with_len(cat->ids + cat->id_off[o],
														 cat->id_off[o + 1] - cat->id_off[o] - 1));
	values[1] = Float8GetDatum(score);
	values[2] = reasons;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The non-personalized list: enabled offers in their window by priority
 * DESC, then offer_id; for a consenting subject (sub != NULL) less the
 * offers they avoid or bought.
 */
static void
put_non_personalized(ReturnSetInfo *rsinfo, const MatchCatalog *cat,
					 const Subject *sub, bool exclude_purchased, int k,
					 TimestampTz now, const char *why)
{
	Datum		reasons = reasons_array(list_make1((char *) why));
	int			n = 0;

	for (int32 i = 0; i < cat->nby_priority && n < k; i++)
	{
		int32		o = cat->by_priority[i];

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!offer_active(cat, o, now))
			continue;
		if (sub != NULL &&
			((exclude_purchased && purchased(sub, o)) || carries_avoided(cat, sub, o)))
			continue;
		put_row(rsinfo, cat, o, false, 0.0, reasons);
		n++;
	}
}

/*
 * match(subject text, k int, per_tag_cap int, exclude_purchased boolean)
 *		RETURNS TABLE (offer_id text, score float8, reasons text[])
 */
Datum
personalize_match(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *subject_text;
	const char *subject;
	int			len;
	int			k;
	int			cap = 0;
	bool		exclude_purchased;
	MemoryContext callcxt;
	MemoryContext old;
	Snapshot	snap;
	TimestampTz now;
	MatchCatalog *cat;
	Subject    *sub;
	Ranked	   *ranked;
	int			n;
	Contribution *buf;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be null"),
				 errhint("Pass the key that identifies the customer, as text.")));
	subject_text = PG_GETARG_TEXT_PP(0);
	subject = VARDATA_ANY(subject_text);
	len = VARSIZE_ANY_EXHDR(subject_text);
	SubjectKeyCheck(subject, len);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be null")));
	k = PG_GETARG_INT32(1);
	if (k < 1 || k > MATCH_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be between 1 and %d", MATCH_MAX_K),
				 errdetail("The value of k is %d.", k),
				 errhint("The argument k is the number of offers to return.")));
	if (!PG_ARGISNULL(2))
	{
		cap = PG_GETARG_INT32(2);
		if (cap < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("per_tag_cap must be at least 1"),
					 errdetail("The value of per_tag_cap is %d.", cap),
					 errhint("Pass NULL for no cap.")));
	}
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("exclude_purchased must not be null")));
	exclude_purchased = PG_GETARG_BOOL(3);

	InitMaterializedSRF(fcinfo, 0);

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "personalize match",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(callcxt);
	snap = GetActiveSnapshot();
	now = GetCurrentStatementStartTimestamp();
	cat = MatchCatalogGet(snap, callcxt);

	/* without consent, the subject's data is not read at all */
	if (!ConsentCheck(subject, len, MATCH_PURPOSE))
	{
		put_non_personalized(rsinfo, cat, NULL, false, k, now,
							 "not personalized: no consent to personalization");
		count_answer(MATCH_NO_CONSENT);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(callcxt);
		PG_RETURN_VOID();
	}

	sub = SubjectLoad(cat, subject, len, snap, now);
	ranked = palloc(k * sizeof(Ranked));
	if (!sub->has_positive)
		n = 0;
	else if (cap > 0)
		n = rank_with_cap(cat, sub, now, exclude_purchased, k, cap, ranked);
	else
		n = rank_offers(cat, sub, now, exclude_purchased, k, ranked);

	if (n == 0)
	{
		put_non_personalized(rsinfo, cat, sub, exclude_purchased, k, now,
							 sub->has_positive ?
							 "not personalized: no current offer matches your interests" :
							 "not personalized: no stated interests or recent behaviour yet");
		count_answer(MATCH_NO_MATCH);
	}
	else
	{
		buf = palloc(Max(cat->ntags, 1) * sizeof(Contribution));
		for (int i = 0; i < n; i++)
		{
			int			nc = contributions(cat, sub, ranked[i].offer, buf);
			List	   *texts = NIL;

			for (int j = 0; j < nc; j++)
				texts = lappend(texts, reason_text(cat, &sub->tags[buf[j].slot]));
			put_row(rsinfo, cat, ranked[i].offer, true, ranked[i].score,
					reasons_array(texts));
		}
		count_answer(MATCH_PERSONALIZED);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(callcxt);
	PG_RETURN_VOID();
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
	version = catalog_version(match_rels(), GetActiveSnapshot(), &own);
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
 * _match_stats(): answers by kind, server-wide when preloaded.
 */
Datum
personalize_match_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (shared_stats != NULL)
	{
		values[0] = Int64GetDatum((int64) pg_atomic_read_u64(&shared_stats->personalized));
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&shared_stats->no_consent));
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&shared_stats->no_match));
		values[3] = TimestampTzGetDatum(shared_stats->since);
		values[4] = CStringGetTextDatum("server, since the library was loaded at server start");
	}
	else
	{
		values[0] = Int64GetDatum((int64) local_personalized);
		values[1] = Int64GetDatum((int64) local_no_consent);
		values[2] = Int64GetDatum((int64) local_no_match);
		values[3] = TimestampTzGetDatum(local_since);
		values[4] = CStringGetTextDatum("this session (add personalize to shared_preload_libraries for server-wide figures)");
	}
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
	CacheInvalidateRelcacheByRelid(match_rels()->version_relid);
	PG_RETURN_VOID();
}
