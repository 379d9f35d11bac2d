/*-------------------------------------------------------------------------
 *
 * relations.c
 *	  The extension's relations, found by name and kept: the one cache of
 *	  them, for the tables themselves and, on a Citus worker node, for the
 *	  node's shards of their copies.
 *
 * The read paths (has_consent(), has_access(), match()) ask for the same
 * few relations in every statement, and a scan of pg_extension each time
 * would cost more than what they read.  A relation found once is kept and
 * checked against the syscache on each use: it still exists, has the name,
 * and sits in the schema it was found in.  A dropped and recreated
 * extension, a renamed relation and a moved shard all fail the check, and
 * the name is looked up again.
 *
 * On a Citus worker a consent check, a protected table's policy or match()
 * over a distributed table runs next to the shards, and reads the node's
 * shard of the copy distribute() keeps (sql/src/base-citus.sql): same keys,
 * same column names.  PersonalizeReadRelid() gives whichever relation this
 * node reads, so that the readers have one lookup for both.
 *
 * The readers keep attribute numbers and other facts derived from these
 * relations; PersonalizeRelationsEpoch() tells them when to look again: it
 * changes on every relcache invalidation of a kept relation (ALTER, DROP
 * EXTENSION ..., or a reset of the whole cache).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/relations.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "base/citus.h"
#include "base/extension.h"
#include "base/relations.h"

/*
 * The copies distribute() keeps, by the name of the relation they copy:
 * the copy's table, and for an index its index on the copy.
 */
static const struct
{
	const char *name;
	const char *copy_table;
	const char *copy_index;		/* NULL for a table */
}			copies[] =
{
	{REL_CONSENT, REL_CONSENT_REPLICA, NULL},
	{IDX_CONSENT_PKEY, REL_CONSENT_REPLICA, IDX_CONSENT_REPLICA_PKEY},
	{REL_PURPOSE, REL_PURPOSE_REPLICA, NULL},
	{IDX_PURPOSE_PKEY, REL_PURPOSE_REPLICA, IDX_PURPOSE_REPLICA_PKEY},
	{IDX_PURPOSE_NAME_KEY, REL_PURPOSE_REPLICA, IDX_PURPOSE_REPLICA_NAME_KEY},
	{REL_ACCESS_GRANT, REL_ACCESS_GRANT_REPLICA, NULL},
	{IDX_ACCESS_GRANT_WINDOW, REL_ACCESS_GRANT_REPLICA, IDX_ACCESS_GRANT_REPLICA_WINDOW},
	{REL_MATCH_VERSION, REL_MATCH_VERSION_REPLICA, NULL},
	{IDX_MATCH_VERSION_PKEY, REL_MATCH_VERSION_REPLICA, IDX_MATCH_VERSION_REPLICA_PKEY},
	{REL_MATCH_CHANGE, REL_MATCH_CHANGE_REPLICA, NULL},
	{IDX_MATCH_CHANGE_VERSION, REL_MATCH_CHANGE_REPLICA, IDX_MATCH_CHANGE_REPLICA_VERSION},
	{REL_OFFERS, REL_OFFERS_REPLICA, NULL},
	{IDX_OFFERS_PKEY, REL_OFFERS_REPLICA, IDX_OFFERS_REPLICA_PKEY},
	{REL_OFFER_TAGS, REL_OFFER_TAGS_REPLICA, NULL},
	{IDX_OFFER_TAGS_PKEY, REL_OFFER_TAGS_REPLICA, IDX_OFFER_TAGS_REPLICA_PKEY},
	{REL_TAG, REL_TAG_REPLICA, NULL},
	{REL_DATA_CATEGORY, REL_DATA_CATEGORY_REPLICA, NULL},
	{REL_INTENT, REL_INTENT_REPLICA, NULL},
	{IDX_INTENT_PKEY, REL_INTENT_REPLICA, IDX_INTENT_REPLICA_PKEY},
	{REL_SIGNAL, REL_SIGNAL_REPLICA, NULL},
	{IDX_SIGNAL_SUBJECT, REL_SIGNAL_REPLICA, IDX_SIGNAL_REPLICA_SUBJECT},
};

/* a relation found once: the extension's own, or this node's shard of a copy */
typedef struct KnownRelation
{
	const char *name;			/* as asked for (names.h), in TopMemoryContext */
	bool		shard;			/* this node's shard of the relation's copy */
	Oid			relid;
	Oid			nspid;
	char	   *relname;		/* the name it must still have */
} KnownRelation;

#define KNOWN_RELATIONS 64

static KnownRelation known[KNOWN_RELATIONS];
static int	nknown = 0;
static uint64 epoch = 1;
static bool callback_registered = false;

/*
 * A relcache invalidation of a kept relation, or of all relations: the
 * readers' derived facts are looked up again.  Only a counter: a callback
 * can run in the middle of a read (any table_open accepts invalidations).
 */
static void
relations_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid)
	{
		epoch++;
		return;
	}
	for (int i = 0; i < nknown; i++)
		if (known[i].relid == relid)
		{
			epoch++;
			return;
		}
}

uint64
PersonalizeRelationsEpoch(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relations_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	return epoch;
}

/* the kept entry for (name, shard), if it still names that relation */
static KnownRelation *
known_find(const char *name, bool shard, bool *valid)
{
	*valid = false;
	for (int i = 0; i < nknown; i++)
	{
		KnownRelation *k = &known[i];
		HeapTuple	tup;

		if (k->shard != shard || strcmp(k->name, name) != 0)
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(k->relid));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

			*valid = form->relnamespace == k->nspid &&
				strcmp(NameStr(form->relname), k->relname) == 0;
			ReleaseSysCache(tup);
		}
		return k;
	}
	return NULL;
}

/* keep what was found (in the entry it replaces, or a new one if any is left) */
static void
known_store(KnownRelation *k, const char *name, bool shard, Oid relid)
{
	if (k == NULL)
	{
		if (nknown >= KNOWN_RELATIONS)
			return;
		k = &known[nknown];
		k->name = MemoryContextStrdup(TopMemoryContext, name);
		k->shard = shard;
		k->relname = NULL;
		nknown++;
	}
	else
	{
		/* a reader's facts about the relation this one replaces are stale */
		epoch++;
		if (k->relname != NULL)
			pfree(k->relname);
		k->relname = NULL;
	}
	k->relid = relid;
	k->nspid = get_rel_namespace(relid);
	k->relname = MemoryContextStrdup(TopMemoryContext, get_rel_name(relid));
}

static Oid
lookup(const char *relname, bool missing_ok)
{
	bool		valid;
	KnownRelation *k = known_find(relname, false, &valid);
	Oid			relid;

	if (valid)
		return k->relid;
	relid = get_relname_relid(relname, PersonalizeSchemaOid());
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return InvalidOid;
		PersonalizeMissingObject(psprintf("relation \"%s\"", relname));
	}
	known_store(k, relname, false, relid);
	return relid;
}

Oid
PersonalizeRelid(const char *relname)
{
	return lookup(relname, false);
}

Oid
PersonalizeRelidIfExists(const char *relname)
{
	return lookup(relname, true);
}

bool
PersonalizeReadsCopies(void)
{
	return PersonalizeOnCitusWorker();
}

Oid
PersonalizeReadRelidIfExists(const char *relname, const char *what)
{
	bool		valid;
	KnownRelation *k;
	Oid			shard;
	int			c;

	if (!PersonalizeReadsCopies())
		return lookup(relname, true);
	k = known_find(relname, true, &valid);
	if (valid)
		return k->relid;
	for (c = 0; c < (int) lengthof(copies); c++)
		if (strcmp(copies[c].name, relname) == 0)
			break;
	if (c == (int) lengthof(copies))
		elog(ERROR, "relation \"%s\" has no copy on Citus workers", relname);
	shard = PersonalizeCitusShardRelid(PersonalizeRelid(copies[c].copy_table),
									   copies[c].copy_table, copies[c].copy_index, what);
	known_store(k, relname, true, shard);
	return shard;
}

Oid
PersonalizeReadRelid(const char *relname, const char *what)
{
	Oid			relid = PersonalizeReadRelidIfExists(relname, what);

	if (!OidIsValid(relid))
		PersonalizeMissingObject(psprintf("relation \"%s\"", relname));
	return relid;
}
