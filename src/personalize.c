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

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "personalize.h"

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
	/* GUCs are defined by the module that owns them (ConsentInit, ...). */

	MarkGUCPrefixReserved("personalize");

	if (IsBinaryUpgrade)
		return;
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
