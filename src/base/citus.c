/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  The Citus layer: what kind of table a relation is, which node this is,
 *	  the node's shards of the extension's copies, and the refusals that
 *	  turn every unsupported case into an error that names Citus.
 *
 * Under Citus the extension's tables on a worker node are local copies
 * that the coordinator's functions never write, and a distributed table's
 * rows live in shards its name does not reach: a read there would answer
 * wrongly.  What a worker may read are the reference tables distribute()
 * keeps (sql/src/base-citus.sql), through the node's shard of each.  The checks
 * below turn every other such case into an error that names Citus.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"

/* the first column of the first row of a Citus catalog, or -1 */
static int64
citus_catalog_value(const char *relname, const char *colname, Oid key_relid)
{
	Oid			relid = get_relname_relid(relname, PG_CATALOG_NAMESPACE);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	AttrNumber	att;
	AttrNumber	keyatt = InvalidAttrNumber;
	int64		result = -1;

	if (!OidIsValid(relid))
		return -1;
	rel = table_open(relid, AccessShareLock);
	att = attnameAttNum(rel, colname, false);
	if (OidIsValid(key_relid))
		keyatt = attnameAttNum(rel, "logicalrelid", false);
	if (att == InvalidAttrNumber || (OidIsValid(key_relid) && keyatt == InvalidAttrNumber))
	{
		table_close(rel, AccessShareLock);
		return -1;
	}
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d;

		if (keyatt != InvalidAttrNumber)
		{
			d = heap_getattr(tup, keyatt, RelationGetDescr(rel), &isnull);
			if (isnull || DatumGetObjectId(d) != key_relid)
				continue;
		}
		d = heap_getattr(tup, att, RelationGetDescr(rel), &isnull);
		if (!isnull)
		{
			Oid			type = TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid;

			result = type == CHAROID ? (int64) DatumGetChar(d) :
				type == INT8OID ? DatumGetInt64(d) : (int64) DatumGetInt32(d);
		}
		break;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

bool
PersonalizeOnCitusWorker(void)
{
	/* once per transaction: the read paths ask for every statement */
	static LocalTransactionId checked = InvalidLocalTransactionId;
	static bool worker = false;

	if (PersonalizeLocalXid() == checked && checked != InvalidLocalTransactionId)
		return worker;
	/* the coordinator (and a node outside any cluster) is group 0 */
	worker = OidIsValid(get_extension_oid("citus", true)) &&
		citus_catalog_value("pg_dist_local_group", "groupid", InvalidOid) > 0;
	checked = PersonalizeLocalXid();
	return worker;
}

Oid
PersonalizeCitusShardRelid(Oid relid, const char *table, const char *index,
						   const char *what)
{
	int64		shardid;
	char	   *name;
	Oid			shard;

	/* 'n': a reference table, one shard with a placement on every node */
	if (citus_catalog_value("pg_dist_partition", "partmethod", relid) != 'n' ||
		(shardid = citus_catalog_value("pg_dist_shard", "shardid", relid)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run on a Citus worker node before personalize.distribute()", what),
				 errdetail("On a worker, personalize reads its copy in the table \"%s\", which distribute() makes a reference table and keeps current.",
						   table),
				 errhint("Run SELECT * FROM personalize.distribute() on the coordinator.")));
	name = psprintf("%s_" INT64_FORMAT, index != NULL ? index : table, shardid);
	shard = get_relname_relid(name, get_rel_namespace(relid));
	if (!OidIsValid(shard))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the Citus reference table \"%s\" has no shard on this node", table),
				 errdetail("On a worker, %s reads the node's shard of it.", what),
				 errhint("Run SELECT replicate_reference_tables() on the coordinator.")));
	pfree(name);
	return shard;
}

bool
PersonalizeCitusPeerWrote(const Oid *relids, int nrelids)
{
	Oid			argtypes[2] = {OIDARRAYOID, INT4OID};
	Datum		values[2];
	Datum	   *elems;
	bool		isnull;
	bool		wrote;
	bool		locked = false;

	/*
	 * First the lock table, which is cheap: a writer of a copy holds
	 * RowExclusiveLock on it until its transaction ends.  Without one,
	 * nothing is unseen.
	 */
	for (int i = 0; i < nrelids && !locked; i++)
	{
		LOCKTAG		tag;
		int			holders;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, relids[i]);
		(void) GetLockConflicts(&tag, ShareLock, &holders);
		locked = holders > 0;
	}
	if (!locked)
		return false;
	elems = palloc(nrelids * sizeof(Datum));
	for (int i = 0; i < nrelids; i++)
		elems[i] = ObjectIdGetDatum(relids[i]);
	values[0] = PointerGetDatum(construct_array(elems, nrelids, OIDOID, sizeof(Oid),
												true, TYPALIGN_INT));
	/* a parallel worker asks for its leader, whose transaction it shares */
	values[1] = Int32GetDatum(MyProc->lockGroupLeader != NULL ?
							  MyProc->lockGroupLeader->pid : MyProcPid);

	/*
	 * Citus's initiator of a transaction differs between
	 * get_current_transaction_id() and get_all_active_transactions(): both
	 * sides come from the latter, found by process id.
	 */
	wrote = DatumGetBool(ExtValue(
		"WITH t AS (SELECT * FROM pg_catalog.get_all_active_transactions())"
		" SELECT EXISTS (SELECT 1 FROM t m, t a"
		" WHERE m.process_id OPERATOR(pg_catalog.=) $2"
		"   AND m.transaction_number OPERATOR(pg_catalog.<>) 0"
		"   AND a.transaction_number OPERATOR(pg_catalog.=) m.transaction_number"
		"   AND a.initiator_node_identifier OPERATOR(pg_catalog.=) m.initiator_node_identifier"
		"   AND a.transaction_stamp IS NOT DISTINCT FROM m.transaction_stamp"
		"   AND a.process_id OPERATOR(pg_catalog.<>) m.process_id"
		"   AND a.process_id IN (SELECT l.pid FROM pg_catalog.pg_locks l"
		"        WHERE l.relation OPERATOR(pg_catalog.=) ANY ($1) AND l.granted"
		"          AND l.mode IN ('RowExclusiveLock', 'AccessExclusiveLock')))",
		2, argtypes, values, NULL, true, &isnull)) && !isnull;
	pfree(elems);
	return wrote;
}

CitusTableKind
PersonalizeCitusTableKind(Oid relid)
{
	int64		method;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return CITUS_NONE;
	method = citus_catalog_value("pg_dist_partition", "partmethod", relid);
	if (method < 0)
		return CITUS_NONE;
	if (method == 'h')
		return CITUS_DISTRIBUTED;
	/* 'n' is a reference table (replication model 't') or a Citus local table */
	if (method == 'n' && citus_catalog_value("pg_dist_partition", "repmodel", relid) == 't')
		return CITUS_REFERENCE;
	return CITUS_OTHER;
}

int64
PersonalizeCitusColocation(Oid relid)
{
	if (!OidIsValid(get_extension_oid("citus", true)))
		return -1;
	return citus_catalog_value("pg_dist_partition", "colocationid", relid);
}

void
PersonalizeRefuseCitusWorker(const char *what, const char *consequence)
{
	if (!PersonalizeOnCitusWorker())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s cannot run on a Citus worker node", what),
			 errdetail("On a worker it would be %s.", consequence),
			 errhint("Call it on the coordinator: read the keys of a distributed table in a MATERIALIZED common table expression, and call it in the outer query.")));
}

void
PersonalizeRefuseCitusTable(Oid relid, const char *what)
{
	if (!OidIsValid(get_extension_oid("citus", true)))
		return;
	if (citus_catalog_value("pg_dist_partition", "partmethod", relid) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s does not support the Citus table \"%s\"", what,
						get_rel_name(relid)),
				 errdetail("Its rows live in shards on the Citus nodes, which %s does not reach yet.", what),
				 errhint("Keep the table local to the coordinator (undistribute_table()), or leave it out of personalize.")));
}

void
PersonalizeCitusRefuseErasure(const Oid *relids, const Oid *owners, int n,
							  Oid copy_relid)
{
	Oid			ext_owner;
	bool		copies_distributed;

	if (!OidIsValid(get_extension_oid("citus", true)) || n == 0)
		return;
	ext_owner = PersonalizeExtensionOwner();
	copies_distributed = OidIsValid(copy_relid) &&
		PersonalizeCitusTableKind(copy_relid) == CITUS_REFERENCE;
	for (int i = 0; i < n; i++)
	{
		CitusTableKind kind = PersonalizeCitusTableKind(relids[i]);

		if (kind == CITUS_REFERENCE && owners[i] != ext_owner && copies_distributed)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("forget() cannot erase from the Citus reference table %s",
							RelationQualifiedName(relids[i])),
					 errdetail("Citus writes reference tables over one connection per role in a transaction, and forget() changes the table as its owner and the copies of distribute() as the extension's owner."),
					 errhint("Give the table to the extension's owner, distribute it by its subject column with create_distributed_table(), or keep it local to the coordinator.")));
		if (kind != CITUS_DISTRIBUTED)
			continue;
		for (int j = i + 1; j < n; j++)
			if (owners[j] != owners[i] &&
				PersonalizeCitusTableKind(relids[j]) == CITUS_DISTRIBUTED &&
				PersonalizeCitusColocation(relids[j]) == PersonalizeCitusColocation(relids[i]))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("forget() cannot erase from the colocated Citus tables %s and %s, which have different owners",
								RelationQualifiedName(relids[i]), RelationQualifiedName(relids[j])),
						 errdetail("Each table is erased as its owner, and Citus refuses a transaction in which two roles change colocated shards."),
						 errhint("Give colocated tables one owner (ALTER TABLE ... OWNER TO), or distribute one of them with colocate_with => 'none'.")));
	}
}

/*
 * Citus's own connections: a coordinator's statement carried to the
 * shards, a rebalancer's or a shard transfer's.  Citus names them by their
 * application_name (connection_management.h), as it tells them apart
 * itself.
 */
bool
PersonalizeCitusInternalBackend(void)
{
	if (application_name == NULL)
		return false;
	return strncmp(application_name, "citus_internal gpid=", 20) == 0 ||
		strncmp(application_name, "citus_rebalancer gpid=", 22) == 0 ||
		strncmp(application_name, "citus_shard_", 12) == 0;
}
