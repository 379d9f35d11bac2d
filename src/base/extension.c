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
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_subscription_rel.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "replication/logicalworker.h"
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
 * _require_relation(tbl regclass) RETURNS void: the error for a regclass
 * argument that names no relation (a regclass may hold any OID, and prints
 * a dropped table as its number, which is no name).
 */
PG_FUNCTION_INFO_V1(personalize_require_relation);

Datum
personalize_require_relation(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	PG_RETURN_VOID();
}

/*
 * OID of a function the extension defines, looked up in its schema only;
 * InvalidOid if missing_ok and it does not exist.
 */
Oid
PersonalizeFunctionOid(const char *name, int nargs, const Oid *argtypes,
					   bool missing_ok)
{
	List	   *qualified;
	Oid			fnoid;

	qualified = list_make2(makeString(get_namespace_name(PersonalizeSchemaOid())),
						   makeString(pstrdup(name)));
	fnoid = LookupFuncName(qualified, nargs, argtypes, true);
	list_free_deep(qualified);
	if (!OidIsValid(fnoid) && !missing_ok)
		PersonalizeMissingObject(psprintf("function %s", name));
	return fnoid;
}

/*
 * The access method of a relation; InvalidOid if it does not exist.
 */
Oid
RelationAccessMethod(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	am = ((Form_pg_class) GETSTRUCT(tup))->relam;
	ReleaseSysCache(tup);
	return am;
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

/* ---------------------------------------------------------------------
 * A restore in any order
 * ---------------------------------------------------------------------
 */

/* this transaction's restore turned off reference checks (_restore_references) */
static bool restore_replica = false;

static void
restore_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		restore_replica = false;
}

PG_FUNCTION_INFO_V1(personalize_restore_references);

/*
 * _restore_references(): statement triggers, fired always, before and after
 * an INSERT (COPY) into one of the extension's tables that reference
 * another.  pg_restore -j loads the extension's configuration tables in
 * any order, each in a transaction of its own, and a foreign key would
 * refuse a row whose parent another job has not loaded yet.  In a
 * superuser's restore (check_function_bodies = off, as pg_dump's output
 * sets it) the statement runs as a replica, as pg_restore --disable-triggers
 * runs it: reference checks do not fire, for the loaded rows only; the
 * triggers the extension needs fire always.  After the statement, the
 * session is as it was.  The dump was consistent when it was taken;
 * verify_ledgers() checks the ledgers against the state after.
 */
Datum
personalize_restore_references(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	static bool registered = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_restore_references() must be called as a statement trigger")));
	if (TRIGGER_FIRED_BEFORE(trigdata->tg_event))
	{
		if (PersonalizeTrustedRestore() &&
			SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA)
		{
			if (!registered)
			{
				RegisterXactCallback(restore_xact_callback, NULL);
				registered = true;
			}
			(void) set_config_option("session_replication_role", "replica",
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
									 true, 0, false);
			restore_replica = true;
		}
	}
	else if (restore_replica)
	{
		(void) set_config_option("session_replication_role", "origin",
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);
		restore_replica = false;
	}
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(personalize_applying);
PG_FUNCTION_INFO_V1(personalize_subscribed);
PG_FUNCTION_INFO_V1(personalize_refuse_subscribed);

/*
 * _refuse_subscribed(): a BEFORE INSERT OR TRUNCATE statement trigger,
 * fired on the origin only (never for an apply worker, which writes as a
 * replica), on the extension's tables other than the ledgers (whose chain
 * trigger refuses in its own words).  A table a subscription fills is the
 * publisher's to add to: a row added here would take an id or a key the
 * publisher's next row needs, and stop the subscription.  Updates and
 * deletes are left to the event triggers that keep the registries true to
 * this database's own DDL.  One catalog probe per statement.
 */
Datum
personalize_refuse_subscribed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_refuse_subscribed() must be called as a statement trigger")));
	if (RelationIsSubscribed(RelationGetRelid(trigdata->tg_relation)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write to table \"%s\" of a logical replication subscriber",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("A subscription fills this table from the publisher; a row added here would collide with the publisher's."),
				 errhint("Make the change on the publisher; this database follows it.")));
	return PointerGetDatum(NULL);
}

/*
 * _subscribed(tbl regclass) RETURNS boolean: does a logical replication
 * subscription fill the table here?  For the triggers that must then leave
 * the writing to the publisher.
 */
Datum
personalize_subscribed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(RelationIsSubscribed(PG_GETARG_OID(0)));
}

/*
 * _applying() RETURNS boolean: is this a logical replication
 * subscription's worker (applying the publisher's changes, or copying a
 * table's data for the first time)?  For the triggers that must then do
 * what the statement triggers it does not fire would have done.
 */
Datum
personalize_applying(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(IsLogicalWorker());
}
