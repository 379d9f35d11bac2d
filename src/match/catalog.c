/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  match()'s catalog phase: which index a statement uses, the one this
 *	  backend keeps, the catalog version, and the SQL functions that look
 *	  at the index and fold the change log.
 *
 * The catalog index: see match.c for the rule, its freshness and the life
 * cycle of the index, and index.c for the index itself.  MatchCatalogGet()
 * picks the index a statement uses: the one this backend holds, the shared
 * one (shared.c), or a new build, brought up to the statement's catalog
 * version by the overlay of changed offers (overlay.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "match/catalog.h"
#include "base/citus.h"
#include "base/runas.h"
#include "match/index.h"
#include "match/overlay.h"
#include "match/rank.h"
#include "match/shared.h"

PG_FUNCTION_INFO_V1(personalize_match_cache_info);
PG_FUNCTION_INFO_V1(personalize_match_invalidate);
PG_FUNCTION_INFO_V1(personalize_match_fold);

/* GUCs */
int			match_cache_mem = 256 * 1024;	/* kB */
int			match_overlay_limit = 10000;	/* offers */

/* the kept catalog (private, or a mapping of the shared one), or NULL */
static MatchCatalog *cached = NULL;

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
 * Free the kept catalog, and the overlay that applied to it.
 */
static void
cache_free(void)
{
	if (cached != NULL)
	{
		MatchCatalog *cat = cached;

		cached = NULL;
		MatchOverlayForget();
		MatchCatalogFree(cat);
	}
}

/*
 * At transaction end, let go of a shared index another backend replaced.
 */
static void
match_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	const MatchRels *r;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT)
		return;

	/*
	 * A mapping of a shared index another backend has replaced keeps the
	 * old segment's memory alive: let it go (the next match() maps the new
	 * one).
	 */
	if (cached != NULL && cached->seg != NULL && (r = MatchRelsKnown()) != NULL &&
		MatchSharedVersion(r) != cached->version)
		cache_free();
}

/*
 * Register the callbacks that keep the relations and the cache honest.
 */
void
MatchCatalogInit(void)
{
	RegisterXactCallback(match_xact_callback, NULL);
	MatchSharedInit();
}

/* ---------- the catalog version ---------- */

/*
 * The catalog version the snapshot sees.  *own is set when our own open
 * transaction wrote it; *horizon is the version after which the change log
 * is complete (0 before 0.3.0).
 */
int64
MatchCatalogVersion(const MatchRels *r, Snapshot snap, bool *own, int64 *horizon)
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
	*horizon = 0;
	if (r->v_horizon != InvalidAttrNumber)
		*horizon = DatumGetInt64(heap_getattr(tup, r->v_horizon, RelationGetDescr(rel), &isnull));
	*own = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* ---------- choosing the index of a statement ---------- */

/* what the last build in this backend was, noted for match_cache_info() */
static void
note_build(const MatchCatalog *cat, bool kept)
{
	last_build.valid = true;
	last_build.kept = kept;
	last_build.version = cat->version;
	last_build.noffers = cat->noffers;
	last_build.ntags = cat->ntags;
	last_build.npostings = cat->npostings;
	last_build.mem_bytes = cat->mem_bytes;
	last_build.build_ms = cat->build_ms;
	last_build.built_at = cat->built_at;
	last_build.builds++;
	elog(DEBUG1, "personalize: built the offer catalog, version " INT64_FORMAT
		 ": %d offers, %d tags, " UINT64_FORMAT " postings, %zu bytes, %.1f ms%s",
		 cat->version, cat->noffers, cat->ntags, cat->npostings, cat->mem_bytes,
		 cat->build_ms, cat->seg ? " (shared)" : kept ? "" : " (not kept)");
}

/* keep cat as this backend's index (freeing the one it replaces) */
static void
cache_set(MatchCatalog *cat)
{
	if (cached == cat)
		return;
	cache_free();
	MemoryContextSetParent(cat->cxt, CacheMemoryContext);
	cached = cat;
}

/*
 * A catalog built privately: kept when it is committed and fits in
 * personalize.match_cache_mem, else for this call only (in callcxt), said
 * once per version with a WARNING.
 */
static MatchCatalog *
build_private(const MatchRels *r, Snapshot snap, int64 version, bool own,
			  MemoryContext callcxt)
{
	MatchCatalog *cat;
	bool		keep;

	/* the kept index cannot serve this version: free it before building */
	if (!own)
		cache_free();
	cat = MatchCatalogBuild(r, snap, version, callcxt);
	keep = !own && cat->mem_bytes <= (Size) match_cache_mem * 1024;

	note_build(cat, keep);
	if (keep)
		cache_set(cat);
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
	return cat;
}

/*
 * A new base index for a committed version, shared when the library is
 * preloaded: under the database's build lock, unless another backend built
 * it meanwhile (then that one is attached).  With wait false, returns NULL
 * when another backend is building, or when no segment can be created now.
 * Falls back to a private index (with a WARNING from shared.c) when the
 * shared one cannot be had.
 */
static MatchCatalog *
build_base(const MatchRels *r, Snapshot snap, int64 version, MemoryContext callcxt,
		   bool wait)
{
	MatchCatalog *cat;
	int64		shared_version;

	if (!MatchSharedAvailable())
		return build_private(r, snap, version, false, callcxt);

	if (wait)
		MatchSharedBuildLock();
	else if (!MatchSharedBuildLockTry())
		return NULL;

	/* built while we waited? */
	cat = MatchSharedAttach(r, &shared_version);
	if (cat != NULL)
	{
		if (shared_version == version)
		{
			MatchSharedBuildUnlock();
			cache_set(cat);
			return cat;
		}
		MatchCatalogFree(cat);
	}
	if (shared_version > version)
	{
		/* our snapshot is older than the shared index: for this call only */
		MatchSharedBuildUnlock();
		cat = MatchCatalogBuild(r, snap, version, callcxt);
		note_build(cat, false);
		return cat;
	}

	/*
	 * No segment can be created in this statement (shared.c): a private
	 * index, as without preloading (the next build outside such a
	 * statement is shared); or, when not waiting, the overlay serves on.
	 */
	if (!MatchSharedCanBuild())
	{
		MatchSharedBuildUnlock();
		return wait ? build_private(r, snap, version, false, callcxt) : NULL;
	}

	cat = MatchSharedBuild(r, snap, version, callcxt);
	if (cat == NULL)
	{
		MatchSharedBuildUnlock();
		return build_private(r, snap, version, false, callcxt);
	}
	note_build(cat, true);
	MatchSharedPublish(cat);
	MatchSharedBuildUnlock();
	cache_set(cat);
	return cat;
}

/* can the overlay bring base to the statement's version? */
static bool
base_usable(const MatchCatalog *base, const MatchRels *r, int64 version, int64 horizon)
{
	return base != NULL && base->version_relid == r->version_relid &&
		base->version <= version && base->version >= horizon;
}

/*
 * The catalog as the snapshot sees it: a base index (this backend's, or
 * the shared one, or a new build) with the overlay of the offers changed
 * since it was built.  A catalog that is not kept lives in callcxt, and
 * goes with it.
 */
MatchCatalog *
MatchCatalogGet(Snapshot snap, MemoryContext callcxt)
{
	const MatchRels *r = MatchRelsGet();
	bool		own;
	int64		horizon;
	int64		version = MatchCatalogVersion(r, snap, &own, &horizon);
	MatchCatalog *base = NULL;
	const MatchOverlay *ov = NULL;

	if (base_usable(cached, r, version, horizon))
		base = cached;

	/* a newer shared index than ours that serves this version */
	if (MatchSharedAvailable())
	{
		int64		sv = MatchSharedVersion(r);

		if (sv >= 0 && sv >= horizon && sv <= version &&
			(base == NULL || sv > base->version))
		{
			int64		shared_version;
			MatchCatalog *cat = MatchSharedAttach(r, &shared_version);

			if (cat != NULL && base_usable(cat, r, version, horizon) &&
				(base == NULL || cat->version > base->version))
			{
				cache_set(cat);
				base = cat;
			}
			else if (cat != NULL)
				MatchCatalogFree(cat);
		}
	}

	if (base != NULL &&
		MatchOverlayGet(base, r, snap, version, own, horizon, callcxt, &ov) == OVERLAY_OK)
	{
		/*
		 * Too many changed offers for an overlay: fold them into a new base
		 * index, unless another backend is doing it (then the overlay serves
		 * until it is done).
		 */
		if (ov != NULL && ov->n > match_overlay_limit && !own)
		{
			MatchCatalog *cat = build_base(r, snap, version, callcxt, false);

			if (cat != NULL)
			{
				cat->ov = NULL;
				return cat;
			}
		}
		base->ov = ov;
		return base;
	}

	/*
	 * No base the change log can bring up to date: build one.  A version
	 * our own open transaction wrote may be rolled back and reused, so its
	 * catalog serves this call only.
	 */
	if (own)
	{
		MatchCatalog *cat = MatchCatalogBuild(r, snap, version, callcxt);

		note_build(cat, false);
		return cat;
	}
	base = build_base(r, snap, version, callcxt, true);
	base->ov = NULL;
	return base;
}

/* ---------- folding the change log ---------- */

/*
 * _match_fold() RETURNS bigint: the maintenance duty that keeps the change
 * log short (see sql/src/match.sql).
 */
Datum
personalize_match_fold(PG_FUNCTION_ARGS pg_attribute_unused())
{
	const MatchRels *r;
	Snapshot	snap = GetActiveSnapshot();
	bool		own;
	int64		horizon;
	int64		version;
	int64		prune_to;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	bool		isnull;
	uint64		deleted;

	/*
	 * A Citus worker's copy of the change log is pruned by the
	 * coordinator's pass, through replication; match() there brings the
	 * node's index up to date itself.
	 */
	if (PersonalizeOnCitusWorker())
		PG_RETURN_INT64(0);
	r = MatchRelsGet();
	version = MatchCatalogVersion(r, snap, &own, &horizon);
	if (!OidIsValid(r->change_relid))
		PG_RETURN_INT64(0);

	if (MatchSharedAvailable())
	{
		int64		shared_version = MatchSharedVersion(r);

		if (shared_version < 0)
			PG_RETURN_INT64(0);	/* no match() since the server started */
		if (shared_version < version && !own)
		{
			int64		changed;
			bool		waited;

			/* enough offers changed, or the oldest change waited long enough */
			args[0] = Int64GetDatum(shared_version);
			changed = DatumGetInt64(ExtValue("SELECT CASE WHEN pg_catalog.bool_or(c.offer_id IS NULL) THEN 2147483647"
											 " ELSE pg_catalog.count(DISTINCT c.offer_id) END"
											 " FROM personalize.match_catalog_change c"
											 " WHERE c.version OPERATOR(pg_catalog.>) $1",
											 1, argtypes, args, NULL, true, &isnull));
			waited = DatumGetBool(ExtValue("SELECT coalesce(pg_catalog.min(c.logged_at) OPERATOR(pg_catalog.<=)"
										   " (pg_catalog.now() OPERATOR(pg_catalog.-) interval '5 minutes'), false)"
										   " FROM personalize.match_catalog_change c"
										   " WHERE c.version OPERATOR(pg_catalog.>) $1",
										   1, argtypes, args, NULL, true, &isnull));
			if (changed >= Max(match_overlay_limit / 4, 1) || waited)
				shared_version = build_base(r, snap, version, CurrentMemoryContext, true)->version;
		}
		prune_to = shared_version;

		/*
		 * The worker keeps no mapping of an index another backend has
		 * replaced: it would keep the old segment's memory alive.
		 */
		if (cached != NULL && cached->seg != NULL && cached->version != MatchSharedVersion(r))
			cache_free();
	}
	else
	{
		/* changes older than an hour: a session whose index predates them rebuilds it */
		prune_to = DatumGetInt64(ExtValue("SELECT coalesce(pg_catalog.max(c.version), -1)"
										  " FROM personalize.match_catalog_change c"
										  " WHERE c.logged_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) interval '1 hour')",
										  0, NULL, NULL, NULL, true, &isnull));
	}
	if (prune_to <= horizon)
		PG_RETURN_INT64(0);

	args[0] = Int64GetDatum(prune_to);
	deleted = ExtExecute("DELETE FROM personalize.match_catalog_change c"
						 " WHERE c.version OPERATOR(pg_catalog.<=) $1",
						 1, argtypes, args, NULL, false, NULL, NULL);
	(void) ExtExecute("UPDATE personalize.match_catalog_version"
					  " SET horizon = $1 WHERE horizon OPERATOR(pg_catalog.<) $1",
					  1, argtypes, args, NULL, false, NULL, NULL);
	PG_RETURN_INT64((int64) deleted);
}

/* ---------- observability ---------- */

/*
 * match_cache_info(): the index this session uses.
 */
Datum
personalize_match_cache_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[26];
	bool		nulls[26];
	bool		own;
	int64		horizon;
	int64		version;
	const MatchRels *r;
	const MatchOverlay *ov;
	MatchSharedInfo si;
	const MatchRankingCounts *rc = MatchRankingCountsGet();

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != lengthof(values))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("match_cache_info() of this database is older than the library"),
				 errhint("Run ALTER EXTENSION personalize UPDATE.")));
	memset(nulls, 0, sizeof(nulls));
	r = MatchRelsGet();
	version = MatchCatalogVersion(r, GetActiveSnapshot(), &own, &horizon);
	ov = MatchOverlayKept(cached);
	values[0] = Int64GetDatum(version);
	/* cache_version: the version the kept index, with its overlay, answers for */
	if (cached != NULL && cached->version_relid == r->version_relid)
		values[1] = Int64GetDatum(ov ? ov->version : cached->version);
	else
		nulls[1] = true;
	/* fresh: the next match() uses the kept index (and overlay) as they are */
	values[2] = BoolGetDatum(cached != NULL && !own && cached->version_relid == r->version_relid &&
							 (ov ? ov->version : cached->version) == version);
	values[3] = BoolGetDatum(cached != NULL);
	values[4] = BoolGetDatum(cached != NULL && cached->seg != NULL);
	values[9] = Int64GetDatum((int64) match_cache_mem * 1024);
	if (cached != NULL)
	{
		values[5] = Int32GetDatum(cached->noffers + (ov ? ov->delta_offers : 0));
		values[6] = Int32GetDatum(cached->ntags);
		values[7] = Int64GetDatum((int64) cached->npostings);
		values[8] = Int64GetDatum((int64) cached->mem_bytes);
		values[10] = TimestampTzGetDatum(cached->built_at);
		values[11] = Float8GetDatum(cached->build_ms);
	}
	else if (last_build.valid)
	{
		values[5] = Int32GetDatum(last_build.noffers);
		values[6] = Int32GetDatum(last_build.ntags);
		values[7] = Int64GetDatum((int64) last_build.npostings);
		values[8] = Int64GetDatum((int64) last_build.mem_bytes);
		values[10] = TimestampTzGetDatum(last_build.built_at);
		values[11] = Float8GetDatum(last_build.build_ms);
	}
	else
		for (int i = 5; i <= 11; i++)
			if (i != 9)
				nulls[i] = true;
	values[12] = Int64GetDatum(last_build.builds);
	if (cached != NULL)
		values[13] = Int64GetDatum(cached->version);
	else
		nulls[13] = true;
	values[14] = Int32GetDatum(ov ? ov->n : 0);
	values[15] = Int64GetDatum(ov ? (int64) ov->mem_bytes : 0);
	MatchSharedGetInfo(r, &si);
	if (si.valid)
	{
		values[16] = Int64GetDatum(si.version);
		values[17] = Int64GetDatum((int64) si.size);
		values[18] = TimestampTzGetDatum(si.built_at);
		values[19] = Float8GetDatum(si.build_ms);
		values[20] = Int64GetDatum(si.builds);
	}
	else
		for (int i = 16; i <= 20; i++)
			nulls[i] = true;
	if (MatchSharedAvailable())
		values[21] = Int64GetDatum((int64) match_shared_mem * 1024);
	else
		nulls[21] = true;
	values[22] = Int64GetDatum((int64) rc->blocks);
	values[23] = Int64GetDatum((int64) rc->blocks_skipped);
	values[24] = Int64GetDatum((int64) rc->postings);
	values[25] = Int64GetDatum((int64) rc->postings_skipped);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * _match_invalidate(): called by the catalog triggers of 0.1.0 and 0.2.0
 * (an older version's SQL with this library).  Nothing to do: without the
 * change log, a new catalog version rebuilds the index at the next call.
 */
Datum
personalize_match_invalidate(PG_FUNCTION_ARGS pg_attribute_unused())
{
	PG_RETURN_VOID();
}
