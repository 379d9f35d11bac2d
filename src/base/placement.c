/*-------------------------------------------------------------------------
 *
 * placement.c
 *	  Intents and signals placed with the application's customers on a
 *	  Citus cluster: a subject as a key, and the shard that holds it.
 *
 * distribute(colocate_with => 'customers') distributes the copies of
 * intents and signals (sql/src/base-citus.sql) by subject_key, a column of
 * the type of the customers' key, colocated with that table: a subject's
 * rows sit in the shard of its customer row, on the node where match()
 * over that row runs.  The writers keep the subject as text; a subject
 * enters the copies only if it is a key of that type (checked here, with
 * the writer's statement, so that nothing unshippable waits in the
 * outbox), and match() on a worker finds its shard as Citus finds it: the
 * type's hash function, under the column's collation, and the shards'
 * hash ranges in pg_dist_shard.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/placement.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "parser/parse_relation.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "base/placement.h"
#include "base/relations.h"

PG_FUNCTION_INFO_V1(personalize_subject_key);
PG_FUNCTION_INFO_V1(personalize_subject_key_parses);

/* an optional sign and decimal digits, within [min, max] */
static bool
integer_parses(const char *s, int len, int64 min, int64 max, int64 *value)
{
	int			i = 0;
	bool		negative = false;
	uint64		magnitude = 0;
	uint64		limit;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
	{
		negative = s[0] == '-';
		i++;
	}
	if (i == len)
		return false;
	/* two's complement: the most negative value has one more */
	limit = negative ? (uint64) (-(min + 1)) + 1 : (uint64) max;
	for (; i < len; i++)
	{
		int			digit = s[i] - '0';

		if (digit < 0 || digit > 9)
			return false;
		if (magnitude > (limit - digit) / 10)
			return false;
		magnitude = magnitude * 10 + digit;
	}
	if (!negative)
		*value = (int64) magnitude;
	else if (magnitude == 0)
		*value = 0;
	else
		*value = -(int64) (magnitude - 1) - 1;
	return true;
}

static bool
hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* the notations uuid_in reads: 32 hex digits, a hyphen after any group of four, braces */
static bool
uuid_parses(const char *s, int len)
{
	int			i = 0;
	int			end = len;

	if (len > 0 && s[0] == '{')
	{
		if (len < 2 || s[len - 1] != '}')
			return false;
		i = 1;
		end = len - 1;
	}
	for (int byte = 0; byte < UUID_LEN; byte++)
	{
		if (i + 2 > end || !hex_digit(s[i]) || !hex_digit(s[i + 1]))
			return false;
		i += 2;
		if (i < end && s[i] == '-' && byte % 2 == 1 && byte < UUID_LEN - 1)
			i++;
	}
	return i == end;
}

bool
PersonalizeSubjectKeyParses(const char *subject, int len, Oid typid)
{
	int64		value;

	switch (typid)
	{
		case TEXTOID:
			return true;
		case INT8OID:
			return integer_parses(subject, len, PG_INT64_MIN, PG_INT64_MAX, &value);
		case INT4OID:
			return integer_parses(subject, len, PG_INT32_MIN, PG_INT32_MAX, &value);
		case UUIDOID:
			return uuid_parses(subject, len);
		default:
			return false;
	}
}

/* the subject as a Datum of typid; it parses */
static Datum
subject_key_datum(const char *subject, int len, Oid typid)
{
	int64		value = 0;

	switch (typid)
	{
		case INT8OID:
			(void) integer_parses(subject, len, PG_INT64_MIN, PG_INT64_MAX, &value);
			return Int64GetDatum(value);
		case INT4OID:
			(void) integer_parses(subject, len, PG_INT32_MIN, PG_INT32_MAX, &value);
			return Int32GetDatum((int32) value);
		case UUIDOID:
			return DirectFunctionCall1(uuid_in, CStringGetDatum(pnstrdup(subject, len)));
		default:
			return PointerGetDatum(cstring_to_text_with_len(subject, len));
	}
}

/* the type and collation of a copy's subject_key */
static void
subject_key_type(Oid relid, Oid *typid, Oid *collation)
{
	AttrNumber	att = get_attnum(relid, "subject_key");
	int32		typmod;

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("relation \"%s\" has no column \"subject_key\"", get_rel_name(relid)),
				 errdetail("Only the copies of intents and signals are placed by subject."),
				 errhint("Run ALTER EXTENSION personalize UPDATE.")));
	get_atttypetypmodcoll(relid, att, typid, &typmod, collation);
}

/* ---------- the shards of a copy, by hash range ---------- */

typedef struct ShardMap
{
	Oid			relid;
	uint64		epoch;			/* PersonalizeRelationsEpoch() it was read at */
	Oid			keytype;
	Oid			keycollation;
	FmgrInfo	hash;			/* the type's hash function, as Citus uses it */
	int			n;
	int32	   *min;			/* by min, ascending */
	int32	   *max;
	int64	   *shardid;
} ShardMap;

static ShardMap maps[2];

static int32
text_int32(Datum d)
{
	char	   *s = TextDatumGetCString(d);
	int64		v = 0;

	if (!integer_parses(s, strlen(s), PG_INT32_MIN, PG_INT32_MAX, &v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pg_dist_shard has a hash range bound \"%s\" that is not an integer", s)));
	return (int32) v;
}

/* read relid's shards from pg_dist_shard into m */
static void
shard_map_load(ShardMap *m, Oid relid)
{
	Oid			catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	AttrNumber	a_rel,
				a_id,
				a_min,
				a_max;
	int			cap = 32;
	TypeCacheEntry *tc;

	if (m->min != NULL)
	{
		pfree(m->min);
		pfree(m->max);
		pfree(m->shardid);
	}
	m->relid = InvalidOid;
	m->n = 0;
	m->min = MemoryContextAlloc(TopMemoryContext, cap * sizeof(int32));
	m->max = MemoryContextAlloc(TopMemoryContext, cap * sizeof(int32));
	m->shardid = MemoryContextAlloc(TopMemoryContext, cap * sizeof(int64));

	subject_key_type(relid, &m->keytype, &m->keycollation);
	tc = lookup_type_cache(m->keytype, TYPECACHE_HASH_PROC_FINFO);
	if (!OidIsValid(tc->hash_proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify a hash function for type %s", format_type_be(m->keytype))));
	fmgr_info_cxt(tc->hash_proc, &m->hash, TopMemoryContext);

	if (!OidIsValid(catalog))
		return;
	rel = table_open(catalog, AccessShareLock);
	a_rel = attnameAttNum(rel, "logicalrelid", false);
	a_id = attnameAttNum(rel, "shardid", false);
	a_min = attnameAttNum(rel, "shardminvalue", false);
	a_max = attnameAttNum(rel, "shardmaxvalue", false);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d = heap_getattr(tup, a_rel, desc, &isnull);
		bool		minnull,
					maxnull;
		Datum		lo,
					hi;
		int32		min;
		int			i;

		if (isnull || DatumGetObjectId(d) != relid)
			continue;
		lo = heap_getattr(tup, a_min, desc, &minnull);
		hi = heap_getattr(tup, a_max, desc, &maxnull);
		if (minnull || maxnull)
			continue;
		if (m->n == cap)
		{
			cap *= 2;
			m->min = repalloc(m->min, cap * sizeof(int32));
			m->max = repalloc(m->max, cap * sizeof(int32));
			m->shardid = repalloc(m->shardid, cap * sizeof(int64));
		}
		/* insertion by min: a few dozen shards */
		min = text_int32(lo);
		i = m->n++;
		while (i > 0 && m->min[i - 1] > min)
		{
			m->min[i] = m->min[i - 1];
			m->max[i] = m->max[i - 1];
			m->shardid[i] = m->shardid[i - 1];
			i--;
		}
		m->min[i] = min;
		m->max[i] = text_int32(hi);
		m->shardid[i] = DatumGetInt64(heap_getattr(tup, a_id, desc, &isnull));
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	m->relid = relid;
	m->epoch = PersonalizeRelationsEpoch();
}

static ShardMap *
shard_map(Oid relid)
{
	uint64		epoch = PersonalizeRelationsEpoch();
	ShardMap   *free_map = NULL;

	for (int i = 0; i < (int) lengthof(maps); i++)
	{
		if (maps[i].relid == relid && maps[i].epoch == epoch)
			return &maps[i];
		if (free_map == NULL && (maps[i].relid == relid || maps[i].epoch != epoch))
			free_map = &maps[i];
	}
	if (free_map == NULL)
		free_map = &maps[0];
	shard_map_load(free_map, relid);
	return free_map;
}

bool
PersonalizeSubjectShard(Oid relid, const char *table, const char *index,
						const char *subject, int len,
						Oid *shard, Oid *shard_index, const char *what)
{
	ShardMap   *m = shard_map(relid);
	int32		h;
	int			lo = 0,
				hi;
	int64		shardid = -1;
	char	   *name;
	Oid			nspid = get_rel_namespace(relid);

	if (!PersonalizeSubjectKeyParses(subject, len, m->keytype))
		return false;
	h = DatumGetInt32(FunctionCall1Coll(&m->hash, m->keycollation,
										subject_key_datum(subject, len, m->keytype)));
	/* the last range that starts at or below h */
	hi = m->n - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (m->min[mid] <= h)
		{
			if (h <= m->max[mid])
			{
				shardid = m->shardid[mid];
				break;
			}
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	if (shardid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the Citus table \"%s\" has no shard for subject \"%s\"",
						table, pnstrdup(subject, len)),
				 errdetail("On this node, pg_dist_shard covers no hash range with the subject's key.")));
	name = psprintf("%s_" INT64_FORMAT, table, shardid);
	*shard = get_relname_relid(name, nspid);
	pfree(name);
	name = psprintf("%s_" INT64_FORMAT, index, shardid);
	*shard_index = get_relname_relid(name, nspid);
	pfree(name);
	if (!OidIsValid(*shard) || !OidIsValid(*shard_index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot read the intents and signals of subject \"%s\" on this Citus node",
						what, pnstrdup(subject, len)),
				 errdetail("Since distribute(colocate_with => ...), intents and signals are stored in the shard of the subject's key, and this subject's shard is on another node."),
				 errhint("Call %s over that table by its distribution column, or on the coordinator.", what)));
	return true;
}

/* ---------- SQL ---------- */

/*
 * _subject_key(copy regclass, subject text) RETURNS text: the subject, if
 * it can be a key of the copy's subject_key.
 */
Datum
personalize_subject_key(PG_FUNCTION_ARGS)
{
	Oid			copy = PG_GETARG_OID(0);
	text	   *subject = PG_GETARG_TEXT_PP(1);
	Oid			typid;
	Oid			collation;

	subject_key_type(copy, &typid, &collation);
	if (!PersonalizeSubjectKeyParses(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject), typid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("subject \"%s\" is not a valid %s key", text_to_cstring(subject),
						format_type_be(typid)),
				 errdetail("Since distribute(colocate_with => ...), intents and signals are stored in the shard of the subject's %s key.",
						   format_type_be(typid)),
				 errhint("Name the subject by its key in that table, or call distribute() without colocate_with to keep intents and signals in reference tables.")));
	PG_RETURN_TEXT_P(subject);
}

/*
 * _subject_key_parses(subject text, keytype regtype) RETURNS boolean
 */
Datum
personalize_subject_key_parses(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(PersonalizeSubjectKeyParses(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject),
											   PG_GETARG_OID(1)));
}
