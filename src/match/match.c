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
 * The catalog index.  The offer catalog is kept as an inverted index: tag
 * -> postings (offer number and weight), sorted by offer, and for each tag
 * where its postings cross into each block of MATCH_BLOCK offers and its
 * largest weight there.  Offers are numbered in offer_id order, so
 * comparing numbers breaks ties by offer_id.  A call reads the subject's
 * intents and signals with two index scans, scores the offers their tags
 * reach block by block (a block's scores stay in the CPU cache; a block
 * whose bounds cannot beat the k-th score is skipped), and keeps the best
 * k in a heap; the reasons of those k come from a binary search within one
 * block of each of the subject's tags.  No SQL runs per call, let alone
 * per offer.
 *
 * One index per database: with the library preloaded it is built once
 * into dynamic shared memory and mapped by every backend (shared.c);
 * otherwise each backend keeps its own.
 *
 * Freshness.  Every statement that changes offers, offer_tags, tag or
 * data_category increments personalize.match_catalog_version inside the
 * writer's transaction and logs the offers it changed in
 * match_catalog_change (overlay.c says why the log rows a snapshot
 * sees past an index's version are exactly the changes it must apply).
 * match() reads the version through its statement's snapshot, and the
 * changed offers through the same snapshot, scored as an overlay over the
 * index: a statement sees exactly the catalog its snapshot sees, the
 * writer's own open transaction included, without a rebuild.  A change
 * the log cannot describe offer by offer (tags, categories, TRUNCATE, a
 * bulk statement), or an overlay grown past personalize.match_overlay_limit,
 * rebuilds the index.
 *
 * Memory.  A private index larger than personalize.match_cache_mem is not
 * kept: it is built for the call and freed after it (slow, and said once
 * per session with a WARNING).  match_cache_info() reports the index.
 *
 * The code is in six files, each with its header, which include each
 * other in one direction: index.c (the relations, the catalog index laid
 * out flat, built, viewed, freed and looked up in) at the bottom; above
 * it shared.c (the shared index), overlay.c (the changed offers) and
 * rank.c (the subject, the ranking and the reasons); above those
 * catalog.c (which index a statement uses, the kept one, the catalog
 * version, match_cache_info() and _match_fold()); and at the top this
 * file (settings, answer counters, the SQL functions).  A setting lives
 * in the lowest file that reads it; MatchInit() defines them all.
 *
 * Scale-out note: the tables are read in MatchBuildStart(),
 * MatchOverlayGet(), SubjectLoad(), MatchCatalogVersion() and (consent)
 * ConsentCheck() only.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/match.c
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

#include "match/match.h"
#include "base/citus.h"
#include "base/compat.h"
#include "base/subject_key.h"
#include "consent/consent.h"
#include "match/catalog.h"
#include "match/index.h"
#include "match/rank.h"
#include "match/shared.h"

PG_FUNCTION_INFO_V1(personalize_match);
PG_FUNCTION_INFO_V1(personalize_match_stats);

/* the largest k match() accepts */
#define MATCH_MAX_K			10000
/* the purpose whose consent match() needs */
#define MATCH_PURPOSE		"personalization"

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
	RequestAddinShmemSpace(MatchSharedShmemSize());
	RequestNamedLWLockTranche("personalize match index", 1);
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
	MatchSharedShmemInit();
	LWLockRelease(AddinShmemInitLock);
	shared_stats = stats;
}

/*
 * Define the module's GUCs and register its callbacks and hooks.  Each GUC
 * variable lives in the lowest file that reads it: signal_half_life in
 * rank.c, match_shared_mem in shared.c, match_cache_mem and
 * match_overlay_limit in catalog.c.
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
							gettext_noop("Memory a session may keep for a private index of the offer catalog."),
							gettext_noop("A private index is kept without shared_preload_libraries, or when the shared one cannot be had; a larger catalog is built for each match() call and freed after it; 0 never keeps it."),
							&match_cache_mem,
							256 * 1024,
							0,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personalize.match_shared_mem",
							gettext_noop("Shared memory the shared indexes of the offer catalog may take, all databases together."),
							gettext_noop("A database whose index does not fit gets a private index in each session, with a WARNING."),
							&match_shared_mem,
							1024 * 1024,
							0,
							MAX_KILOBYTES,
							PGC_SIGHUP,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("personalize.match_overlay_limit",
							gettext_noop("Changed offers match() applies over the catalog index before it rebuilds the index."),
							gettext_noop("The maintenance pass also rebuilds it once a quarter of this many offers changed."),
							&match_overlay_limit,
							10000,
							0,
							INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	MatchCatalogInit();
	local_since = GetCurrentTimestamp();

	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = match_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = match_shmem_startup;
	}
}

/* ---------- the SQL functions ---------- */

static void
put_row(ReturnSetInfo *rsinfo, const MatchCatalog *cat, int32 o, bool has_score,
		double score, Datum reasons)
{
	Datum		values[3];
	bool		nulls[3] = {false, !has_score, false};

	int			len;
	const char *id = MatchOfferId(cat, o, &len);

	values[0] = PointerGetDatum(cstring_to_text_with_len(id, len));
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
	Datum		reasons = MatchReasonsArray(list_make1((char *) why));
	const MatchOverlay *ov = cat->ov;
	int			n = 0;
	int32		bi = 0;			/* in cat->by_priority */
	int32		oi = 0;			/* in ov->by_priority */
	int32		nov = ov ? ov->nby_priority : 0;

	/* the base's order and the overlay's, merged */
	while (n < k && (bi < cat->nby_priority || oi < nov))
	{
		int32		o;

		if (((bi + oi) & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (oi >= nov)
			o = cat->by_priority[bi++];
		else if (bi >= cat->nby_priority)
			o = cat->noffers + ov->by_priority[oi++];
		else
		{
			int32		b = cat->by_priority[bi];
			const OverlayOffer *x = &ov->offers[ov->by_priority[oi]];

			if (x->priority > cat->priority[b] ||
				(x->priority == cat->priority[b] && x->key < MatchOfferKey(cat, b)))
				o = cat->noffers + ov->by_priority[oi++];
			else
				o = cat->by_priority[bi++];
		}
		if (!MatchOfferActive(cat, o, now))
			continue;
		if (sub != NULL &&
			((exclude_purchased && SubjectPurchased(sub, o)) || SubjectAvoids(cat, sub, o)))
			continue;
		put_row(rsinfo, cat, o, false, 0.0, reasons);
		n++;
	}
}

/*
 * On a Citus worker, where match() reads the node's copies (the offer
 * catalog, intents and signals), or on a coordinator running a shard's
 * statement over a connection of Citus's own: stop a statement that
 * cannot see a change its own distributed transaction made to them,
 * written over another connection (PersonalizeCitusPeerWrote).  The
 * answer would be the one from before the change.  Once per statement.
 */
static void
citus_refuse_unseen_change(const MatchRels *r)
{
	static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
	static TimestampTz checked_stmt = 0;
	static CommandId checked_cid = InvalidCommandId;
	Snapshot	snap = GetActiveSnapshot();
	Oid			relids[8];

	if (checked_lxid == PersonalizeLocalXid() &&
		checked_stmt == GetCurrentStatementStartTimestamp() &&
		checked_cid == snap->curcid)
		return;
	relids[0] = r->version_relid;
	relids[1] = r->change_relid;
	relids[2] = r->offers_relid;
	relids[3] = r->offer_tags_relid;
	relids[4] = r->tag_relid;
	relids[5] = r->category_relid;
	/* copies distributed by subject are written after commit, never in one */
	relids[6] = r->by_subject ? InvalidOid : r->intent_relid;
	relids[7] = r->by_subject ? InvalidOid : r->signal_relid;
	if (PersonalizeCitusPeerWrote(relids, lengthof(relids)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match() on a Citus shard cannot see a change of its own transaction"),
				 errdetail("The change to the offer catalog, intents or signals was written over another connection of this transaction, which this statement's connection to the shard does not see until the transaction commits."),
				 errhint("Commit the change before calling match() over distributed tables.")));
	checked_lxid = PersonalizeLocalXid();
	checked_stmt = GetCurrentStatementStartTimestamp();
	checked_cid = snap->curcid;
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

	if (MatchRelsGet()->citus_copies || PersonalizeCitusInternalBackend())
		citus_refuse_unseen_change(MatchRelsGet());
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
		n = MatchRankWithCap(cat, sub, now, exclude_purchased, k, cap, ranked);
	else
		n = MatchRankOffers(cat, sub, now, exclude_purchased, k, ranked);

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
			int			nc = MatchContributions(cat, sub, ranked[i].offer, buf);
			List	   *texts = NIL;

			for (int j = 0; j < nc; j++)
				texts = lappend(texts, MatchReasonText(cat, &sub->tags[buf[j].slot]));
			put_row(rsinfo, cat, ranked[i].offer, true, ranked[i].score,
					MatchReasonsArray(texts));
		}
		count_answer(MATCH_PERSONALIZED);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(callcxt);
	PG_RETURN_VOID();
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
