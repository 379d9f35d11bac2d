/*-------------------------------------------------------------------------
 *
 * personalize.c
 *	  Library entry point: _PG_init and the module's GUCs.
 *
 * Every SQL feature works whether or not the library is listed in
 * shared_preload_libraries; only the background worker (a later module)
 * needs preloading.  _PG_init therefore does nothing that requires the
 * postmaster, and returns before registering anything under binary upgrade.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/personalize.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "classify.h"
#include "consent.h"
#include "match.h"
#include "personalize.h"
#include "retention.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "personalize",.version = PERSONALIZE_VERSION);
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

/*
 * Module load callback: define GUCs, then (not under binary upgrade) register
 * hooks and workers.
 */
void
_PG_init(void)
{
	/*
	 * Each module defines its own GUCs.  The label provider is registered
	 * even under binary upgrade, which restores labels.
	 */
	ConsentInit();
	ClassifyInit();
	RetentionInit();
	MatchInit();

	if (IsBinaryUpgrade)
	{
		MarkGUCPrefixReserved("personalize");
		return;
	}

	/* the background worker's settings; with preloading, the worker */
	WorkerInit();

	MarkGUCPrefixReserved("personalize");
}

/*
 * OID of the extension's schema; an error if the extension is not installed
 * in this database.
 */
Oid
PersonalizeSchemaOid(void)
{
	Oid			nspid = get_namespace_oid(PERSONALIZE_SCHEMA, true);

	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"personalize\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION personalize.")));
	return nspid;
}

/*
 * OID of a type the extension defines, by name.
 */
Oid
PersonalizeTypeOid(const char *typname)
{
	Oid			typid;

	typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum(typname),
							ObjectIdGetDatum(PersonalizeSchemaOid()));
	if (!OidIsValid(typid))
		elog(ERROR, "type \"%s.%s\" does not exist",
			 PERSONALIZE_SCHEMA, typname);
	return typid;
}

/*
 * OID of one of the extension's relations (table or index), by name.  Only
 * a damaged installation lacks one.
 */
Oid
PersonalizeRelid(const char *relname)
{
	Oid			relid = get_relname_relid(relname, PersonalizeSchemaOid());

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" does not exist", PERSONALIZE_SCHEMA, relname),
				 errhint("Reinstall the extension: DROP EXTENSION personalize; CREATE EXTENSION personalize.")));
	return relid;
}

/*
 * Attribute number of a column of one of the extension's relations.
 */
AttrNumber
PersonalizeAttnum(Oid relid, const char *colname)
{
	AttrNumber	att = get_attnum(relid, colname);

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column \"%s\" of relation \"%s.%s\" does not exist",
						colname, PERSONALIZE_SCHEMA, get_rel_name(relid)),
				 errhint("Reinstall the extension: DROP EXTENSION personalize; CREATE EXTENSION personalize.")));
	return att;
}

/*
 * Act as the extension's owner (the owner of its tables), with
 * search_path = pg_catalog, pg_temp, until PersonalizeRestoreUser.
 *
 * Used by C functions that run as their caller (so that the caller's own
 * privileges govern the caller's tables) but must also write the
 * extension's ledgers, which no caller may write directly.  Only fixed,
 * fully qualified statements run in between, never caller-supplied SQL.
 */
void
PersonalizeBecomeOwner(OwnerSwitch *sw)
{
	HeapTuple	tup;
	Oid			owner;
	Oid			relid = PersonalizeRelid("consent_event");

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&sw->save_userid, &sw->save_sec_context);
	SetUserIdAndSecContext(owner, sw->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Undo PersonalizeBecomeOwner.
 */
void
PersonalizeRestoreUser(OwnerSwitch *sw)
{
	AtEOXact_GUC(true, sw->save_nestlevel);
	SetUserIdAndSecContext(sw->save_userid, sw->save_sec_context);
}

#if PG_VERSION_NUM < 150000
/*
 * InitMaterializedSRF for PostgreSQL 13 and 14: set up a tuplestore in
 * materialize mode for a set-returning function.
 */
void
PersonalizeInitMaterializedSRF(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext oldcxt;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(oldcxt);
}
#endif
