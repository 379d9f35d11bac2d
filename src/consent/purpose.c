/*-------------------------------------------------------------------------
 *
 * purpose.c
 *	  The purpose registry's rules: looking a purpose up by name, the one
 *	  error for an unknown purpose, how deep purposes may nest, and the
 *	  lawful bases.
 *
 * has_consent(), create_consent_view() and the SQL functions
 * (_purpose_id(), used by grant_consent(), define_purpose() ...) all go
 * through PurposeId(), so an unknown purpose gets the same message and the
 * same hint, listing the known purposes, wherever it is named.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/consent/purpose.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "base/extension.h"
#include "base/relations.h"
#include "consent/consent.h"

PG_FUNCTION_INFO_V1(personalize_purpose_id);
PG_FUNCTION_INFO_V1(personalize_purpose_depth_limit);
PG_FUNCTION_INFO_V1(personalize_purpose_tree_shape);

/* the hint lists at most this many known purposes */
#define MAX_LISTED_PURPOSES 20

static Snapshot
current_snapshot(void)
{
	return ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Raise the error for an unknown purpose.  The hint names the known
 * purposes (the registry is readable by everyone), alphabetically.
 */
void
PurposeUnknownError(const char *name)
{
	Oid			relid = PersonalizeRelid(REL_PURPOSE);
	AttrNumber	att_name = PersonalizeAttnum(relid, "name");
	Relation	rel = table_open(relid, AccessShareLock);
	TableScanDesc scan = table_beginscan(rel, current_snapshot(), 0, NULL);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	char	  **names = NULL;
	int			n = 0;
	int			space = 0;
	StringInfoData known;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, att_name, &isnull);

		if (isnull)
			continue;
		if (n == space)
		{
			space = Max(16, space * 2);
			names = names ? repalloc(names, space * sizeof(char *)) :
				palloc(space * sizeof(char *));
		}
		names[n++] = TextDatumGetCString(d);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	initStringInfo(&known);
	if (n > 0)
		qsort(names, n, sizeof(char *), cstring_cmp);
	for (int i = 0; i < n && i < MAX_LISTED_PURPOSES; i++)
		appendStringInfo(&known, "%s%s", i > 0 ? ", " : "", names[i]);
	if (n > MAX_LISTED_PURPOSES)
		appendStringInfo(&known, " and %d more", n - MAX_LISTED_PURPOSES);

	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("purpose \"%s\" does not exist", name),
			 n > 0 ?
			 errhint("Known purposes: %s. Define one with define_purpose().",
					 known.data) :
			 errhint("Define it with define_purpose().")));
	pg_unreachable();
}

/*
 * Look a purpose up by name through the active snapshot: its purpose_id
 * and, when basis is not NULL, its lawful basis (palloc'd; "consent" in a
 * database not yet updated to 0.2.0, which has no lawful bases).
 */
static int32
purpose_lookup(const char *name, char **basis)
{
	Oid			relid = PersonalizeRelid(REL_PURPOSE);
	Oid			name_key = PersonalizeRelid(IDX_PURPOSE_NAME_KEY);
	AttrNumber	att_name = PersonalizeAttnum(relid, "name");
	AttrNumber	att_id = PersonalizeAttnum(relid, "purpose_id");
	AttrNumber	att_basis = get_attnum(relid, "lawful_basis");
	Relation	rel = table_open(relid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	int32		id = 0;

	ScanKeyInit(&key, att_name, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(name));
	key.sk_collation = DEFAULT_COLLATION_OID;
	scan = systable_beginscan(rel, name_key, true, current_snapshot(), 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;

		id = DatumGetInt32(heap_getattr(tup, att_id, RelationGetDescr(rel), &isnull));
		if (basis != NULL)
		{
			Datum		d = (Datum) 0;

			isnull = true;
			if (att_basis != InvalidAttrNumber)
				d = heap_getattr(tup, att_basis, RelationGetDescr(rel), &isnull);
			*basis = isnull ? pstrdup(LAWFUL_BASIS_CONSENT) : TextDatumGetCString(d);
		}
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!found)
		PurposeUnknownError(name);
	return id;
}

/*
 * The purpose_id of a purpose, through the active snapshot.
 */
int32
PurposeId(const char *name)
{
	return purpose_lookup(name, NULL);
}

/*
 * Does this database know lawful bases (is it at 0.2.0 or later)?  The
 * library serves databases not yet updated with ALTER EXTENSION UPDATE.
 */
bool
PurposeHasLawfulBases(void)
{
	return get_attnum(PersonalizeRelid(REL_PURPOSE), "lawful_basis") != InvalidAttrNumber;
}

/*
 * The lawful basis of a purpose, through the active snapshot.
 */
char *
PurposeLawfulBasis(const char *name)
{
	char	   *basis;

	(void) purpose_lookup(name, &basis);
	return basis;
}

/*
 * _purpose_id(purpose text) RETURNS integer: for the SQL functions.
 */
Datum
personalize_purpose_id(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("purpose must not be null")));
	PG_RETURN_INT32(PurposeId(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/*
 * _purpose_depth_limit() RETURNS integer: how deep purposes may nest, for
 * the trigger that keeps the hierarchy a tree has_consent() can read.
 */
Datum
personalize_purpose_depth_limit(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(MAX_PURPOSE_DEPTH);
}

/* one purpose's place in the hierarchy, as _purpose_tree_shape() reads it */
typedef struct PurposeEdge
{
	int32		id;
	int32		parent;			/* 0: a root */
} PurposeEdge;

/*
 * _purpose_tree_shape(purpose_id integer, parent_id integer,
 *                     OUT ancestors integer, OUT cycle boolean,
 *                     OUT below integer)
 *
 * Where a purpose would stand under parent_id: how many ancestors it would
 * have (counted to one past the depth limit at most), whether it would be
 * its own ancestor, and how many levels lie below it.  For the trigger
 * that keeps the hierarchy a tree has_consent() can read.
 *
 * Two sessions that each add a level, or each move a branch, would both
 * pass a check of what their own snapshots show, and together nest deeper
 * than has_consent() reads or close a cycle.  So the hierarchy's writers
 * take one lock, held to their transaction's end, and read the hierarchy
 * as committed now (the latest snapshot, with this transaction's own
 * changes), also under REPEATABLE READ, whose snapshot may predate the
 * writer that held the lock before.
 */
Datum
personalize_purpose_tree_shape(PG_FUNCTION_ARGS)
{
	int32		self = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT32(0);
	int32		parent = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	Oid			relid = PersonalizeRelid(REL_PURPOSE);
	AttrNumber	att_id = PersonalizeAttnum(relid, "purpose_id");
	AttrNumber	att_parent = PersonalizeAttnum(relid, "parent_id");
	LOCKTAG		tag;
	Relation	rel;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tup;
	PurposeEdge *edges;
	int			nedges = 0;
	int			cap = 64;
	int32		ancestors = 0;
	bool		cycle = false;
	int32		below = 0;
	int32	   *level;
	TupleDesc	resdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* one writer of the hierarchy at a time, until its transaction ends */
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, PersonalizeExtensionOid(), relid, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	/* the hierarchy as committed now, with this transaction's changes */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(relid, AccessShareLock);
	edges = palloc(sizeof(PurposeEdge) * cap);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		p;

		CHECK_FOR_INTERRUPTS();
		if (nedges == cap)
		{
			cap *= 2;
			edges = repalloc(edges, sizeof(PurposeEdge) * cap);
		}
		edges[nedges].id = DatumGetInt32(heap_getattr(tup, att_id, RelationGetDescr(rel), &isnull));
		p = heap_getattr(tup, att_parent, RelationGetDescr(rel), &isnull);
		edges[nedges].parent = isnull ? 0 : DatumGetInt32(p);
		nedges++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);

	/* up from the new parent: to a root, to the purpose itself, or too far */
	while (parent != 0 && ancestors <= MAX_PURPOSE_DEPTH)
	{
		int32		next = 0;

		if (parent == self)
		{
			cycle = true;
			break;
		}
		ancestors++;
		for (int i = 0; i < nedges; i++)
			if (edges[i].id == parent)
			{
				next = edges[i].parent;
				break;
			}
		parent = next;
	}

	/*
	 * Down from the purpose: each purpose's level below it (0: not below),
	 * one sweep per level, no further than the limit.
	 */
	level = palloc0(sizeof(int32) * (nedges + 1));
	for (int depth = 1; self != 0 && depth <= MAX_PURPOSE_DEPTH; depth++)
	{
		bool		any = false;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nedges; i++)
		{
			bool		child = false;

			if (level[i] != 0 || edges[i].id == self || edges[i].parent == 0)
				continue;
			if (depth == 1)
				child = edges[i].parent == self;
			else
				for (int j = 0; j < nedges && !child; j++)
					child = level[j] == depth - 1 && edges[j].id == edges[i].parent;
			if (child)
			{
				level[i] = depth;
				any = true;
			}
		}
		if (!any)
			break;
		below = depth;
	}

	values[0] = Int32GetDatum(ancestors);
	values[1] = BoolGetDatum(cycle);
	values[2] = Int32GetDatum(below);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(resdesc), values, nulls)));
}
