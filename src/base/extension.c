/*-------------------------------------------------------------------------
 *
 * extension.c
 *	  Where the extension and its objects are: its OID, schema and owner,
 *	  its relations, types and columns by name.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/extension.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "base/extension.h"

#define EXTENSION_NAME "personalize"

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
void
PersonalizeMissingObject(const char *what)
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
		PersonalizeMissingObject(psprintf("type \"%s\"", typname));
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
		PersonalizeMissingObject(psprintf("column \"%s\" of relation \"%s\"",
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
 * The schema-qualified name of a relation, quoted where needed, for
 * messages, ledgers and SQL text; an error if it does not exist.
 */
char *
RelationQualifiedName(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
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

/*
 * Is the relation the target of a logical replication subscription in this
 * database (listed in pg_subscription_rel)?  Then the publisher writes it:
 * a local write would collide with what the subscription brings.
 */
bool
RelationIsSubscribed(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, SubscriptionRelSrrelidSrsubidIndexId, true, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}
