/*-------------------------------------------------------------------------
 *
 * common.c
 *	  The shared layer: the extension and its relations, running as another
 *	  role, statements on the extension's own tables, and catching errors.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/common.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif

#include "common.h"

#define EXTENSION_NAME "personalize"

/* ---------------------------------------------------------------------
 * The extension and its objects
 * ---------------------------------------------------------------------
 */

/*
 * Read the extension's row of pg_extension: its OID, schema and owner.
 */
static void
extension_row(Oid *extoid, Oid *nspid, Oid *owner)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum(EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"%s\" is not installed in this database",
						EXTENSION_NAME),
				 errhint("Run CREATE EXTENSION %s.", EXTENSION_NAME)));
	if (extoid)
		*extoid = ((Form_pg_extension) GETSTRUCT(tup))->oid;
	if (nspid)
		*nspid = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	if (owner)
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

Oid
PersonalizeExtensionOid(void)
{
	Oid			extoid;

	extension_row(&extoid, NULL, NULL);
	return extoid;
}

Oid
PersonalizeSchemaOid(void)
{
	Oid			nspid;

	extension_row(NULL, &nspid, NULL);
	return nspid;
}

/*
 * The role that created the extension and owns its objects: the role whose
 * rights the extension's own statements use.
 */
Oid
PersonalizeExtensionOwner(void)
{
	Oid			owner;

	extension_row(NULL, NULL, &owner);
	return owner;
}

/*
 * The error for an object of the extension that is missing: the library
 * and the installed SQL objects disagree.  Reinstalling would destroy the
 * consent ledger, so the hint says what restores it without data loss.
 */
static void
missing_object(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s of extension \"%s\" does not exist", what, EXTENSION_NAME),
			 errdetail("The library is version %s; its SQL objects in this database do not match it.",
					   PERSONALIZE_VERSION),
			 errhint("If the installed version differs, run ALTER EXTENSION %s UPDATE; "
					 "otherwise the object was renamed or dropped by hand: "
					 "recreate it as the install script of version %s defines it.",
					 EXTENSION_NAME, PERSONALIZE_VERSION)));
}

/*
 * OID of one of the extension's relations (table or index, names.h).
 */
Oid
PersonalizeRelid(const char *relname)
{
	/*
	 * The read paths (has_consent, has_access) ask for the same few
	 * relations in every statement, and a scan of pg_extension each time
	 * would cost more than what they read.  A relation found once is kept
	 * and checked against the syscache on each use: it still exists, has
	 * the name, and sits in the schema it was found in.  A dropped and
	 * recreated extension, ALTER EXTENSION ... SET SCHEMA and a renamed
	 * relation all fail the check, and the name is looked up again.
	 */
	static struct
	{
		const char *name;
		Oid			relid;
		Oid			nspid;
	}			known[40];
	static int	nknown = 0;
	int			slot = -1;
	Oid			nspid;
	Oid			relid;

	for (int i = 0; i < nknown; i++)
	{
		HeapTuple	tup;
		bool		valid;

		if (strcmp(known[i].name, relname) != 0)
			continue;
		slot = i;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(known[i].relid));
		if (!HeapTupleIsValid(tup))
			break;
		valid = ((Form_pg_class) GETSTRUCT(tup))->relnamespace == known[i].nspid &&
			strcmp(NameStr(((Form_pg_class) GETSTRUCT(tup))->relname), relname) == 0;
		ReleaseSysCache(tup);
		if (valid)
			return known[i].relid;
		break;
	}

	nspid = PersonalizeSchemaOid();
	relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid))
		missing_object(psprintf("relation \"%s\"", relname));
	if (slot < 0 && nknown < (int) lengthof(known))
	{
		slot = nknown++;
		known[slot].name = MemoryContextStrdup(TopMemoryContext, relname);
	}
	if (slot >= 0)
	{
		known[slot].relid = relid;
		known[slot].nspid = nspid;
	}
	return relid;
}

/*
 * OID of a type the extension defines.
 */
Oid
PersonalizeTypeOid(const char *typname)
{
	Oid			typid;

	typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum(typname),
							ObjectIdGetDatum(PersonalizeSchemaOid()));
	if (!OidIsValid(typid))
		missing_object(psprintf("type \"%s\"", typname));
	return typid;
}

/*
 * Attribute number of a column of one of the extension's relations.
 */
AttrNumber
PersonalizeAttnum(Oid relid, const char *colname)
{
	AttrNumber	att = get_attnum(relid, colname);

	if (att == InvalidAttrNumber)
		missing_object(psprintf("column \"%s\" of relation \"%s\"",
								colname, get_rel_name(relid)));
	return att;
}

Oid
RelationOwnerOid(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Is this a restore, by a superuser, that may keep what the dump brings
 * (classifications without their checks, ledger entries with their
 * hashes)?  pg_dump's output sets check_function_bodies = off; only a
 * superuser, who could switch the checks off anyway, is trusted with that.
 */
bool
PersonalizeTrustedRestore(void)
{
	return !check_function_bodies && superuser_arg(GetOuterUserId());
}

/* ---------------------------------------------------------------------
 * Citus
 *
 * Under Citus the extension's tables on a worker node are local copies
 * that the coordinator's functions never write, and a distributed table's
 * rows live in shards its name does not reach: a read there would answer
 * wrongly.  What a worker may read are the reference tables distribute()
 * keeps (sql/src/citus.sql), through the node's shard of each.  The checks
 * below turn every other such case into an error that names Citus.
 * ---------------------------------------------------------------------
 */

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
PersonalizeCitusShardRelid(const char *table, const char *index, const char *what)
{
	Oid			relid = PersonalizeRelid(table);
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

/* ---------------------------------------------------------------------
 * Running as another role
 * ---------------------------------------------------------------------
 */

void
BeginRunAs(RunAs *ra, Oid role)
{
	GetUserIdAndSecContext(&ra->save_userid, &ra->save_sec_context);
	SetUserIdAndSecContext(role, ra->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ra->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
EndRunAs(RunAs *ra)
{
	/* false: whatever the code changed, even with SET, is undone */
	AtEOXact_GUC(false, ra->save_nestlevel);
	SetUserIdAndSecContext(ra->save_userid, ra->save_sec_context);
}

/* ---------------------------------------------------------------------
 * Statements on the extension's own tables
 * ---------------------------------------------------------------------
 */

uint64
RoleExecute(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
			const char *nulls, bool read_only, ExtRowFn row_fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	RunAs		ra;
	int			ret;
	uint64		processed;

	BeginRunAs(&ra, role);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	processed = SPI_processed;
	if (row_fn != NULL && SPI_tuptable != NULL)
	{
		MemoryContext spicxt = MemoryContextSwitchTo(cxt);

		for (uint64 i = 0; i < processed; i++)
			row_fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	EndRunAs(&ra);
	return processed;
}

uint64
RoleExecuteCursor(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
				  const char *nulls, ExtRowFn row_fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	RunAs		ra;
	Portal		portal;
	uint64		processed = 0;

	BeginRunAs(&ra, role);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values, nulls,
									   true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		MemoryContext spicxt;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		spicxt = MemoryContextSwitchTo(cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
			row_fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		MemoryContextSwitchTo(spicxt);
		processed += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	EndRunAs(&ra);
	return processed;
}

uint64
ExtExecute(const char *sql, int nargs, Oid *argtypes, Datum *values,
		   const char *nulls, bool read_only, ExtRowFn row_fn, void *arg)
{
	return RoleExecute(PersonalizeExtensionOwner(), sql, nargs, argtypes,
					   values, nulls, read_only, row_fn, arg);
}

typedef struct FirstValue
{
	bool		seen;
	bool		isnull;
	Datum		value;
	char	   *text;
	bool		as_text;
} FirstValue;

/* row callback of ExtValue and ExtValueText: keep the first column of row one */
static void
first_value(HeapTuple tuple, TupleDesc desc, void *arg)
{
	FirstValue *fv = (FirstValue *) arg;
	Form_pg_attribute att = TupleDescAttr(desc, 0);

	if (fv->seen)
		return;
	fv->seen = true;
	if (fv->as_text)
	{
		fv->text = SPI_getvalue(tuple, desc, 1);
		fv->isnull = fv->text == NULL;
		return;
	}
	fv->value = SPI_getbinval(tuple, desc, 1, &fv->isnull);
	if (!fv->isnull)
		fv->value = datumCopy(fv->value, att->attbyval, att->attlen);
}

Datum
RoleValue(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
		  const char *nulls, bool read_only, bool *isnull)
{
	FirstValue	fv = {false, true, (Datum) 0, NULL, false};

	(void) RoleExecute(role, sql, nargs, argtypes, values, nulls, read_only,
					   first_value, &fv);
	*isnull = !fv.seen || fv.isnull;
	return *isnull ? (Datum) 0 : fv.value;
}

Datum
ExtValue(const char *sql, int nargs, Oid *argtypes, Datum *values,
		 const char *nulls, bool read_only, bool *isnull)
{
	return RoleValue(PersonalizeExtensionOwner(), sql, nargs, argtypes, values,
					 nulls, read_only, isnull);
}

char *
ExtValueText(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, bool read_only)
{
	FirstValue	fv = {false, true, (Datum) 0, NULL, true};

	(void) ExtExecute(sql, nargs, argtypes, values, nulls, read_only,
					  first_value, &fv);
	return fv.seen ? fv.text : NULL;
}

/* ---------------------------------------------------------------------
 * Errors that must not stop a loop
 * ---------------------------------------------------------------------
 */

ErrorData *
TryInSubtransaction(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		/* copy the error out of ErrorContext before it is reset */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

void
WarnFailure(const ErrorData *edata, const char *what, const char *note)
{
	const char *detail = edata->detail;

	if (note != NULL)
		detail = detail ? psprintf("%s %s", detail, note) : note;
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("%s: %s", what, edata->message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0));
}

/* ---------------------------------------------------------------------
 * Version differences (compat.h)
 * ---------------------------------------------------------------------
 */

#if PG_VERSION_NUM < 160000
typedef struct InputCall
{
	Oid			typinput;
	const char *str;
	Oid			typioparam;
	int32		typmod;
	Datum		result;
} InputCall;

static void
input_call(void *arg)
{
	InputCall  *c = (InputCall *) arg;

	c->result = OidInputFunctionCall(c->typinput, unconstify(char *, c->str),
									 c->typioparam, c->typmod);
}
#endif

bool
PersonalizeInputSafe(Oid typinput, const char *str, Oid typioparam,
					 int32 typmod, Datum *result)
{
#if PG_VERSION_NUM >= 160000
	ErrorSaveContext escontext = {.type = T_ErrorSaveContext};
	FmgrInfo	flinfo;

	fmgr_info(typinput, &flinfo);
	return InputFunctionCallSafe(&flinfo, unconstify(char *, str),
								 typioparam, typmod,
								 (Node *) &escontext, result);
#else
	InputCall	c = {typinput, str, typioparam, typmod, (Datum) 0};
	ErrorData  *edata = TryInSubtransaction(input_call, &c);

	if (edata == NULL)
	{
		*result = c.result;
		return true;
	}
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
#endif
}
