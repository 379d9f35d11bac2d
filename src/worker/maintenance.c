/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  The duties of a maintenance pass, in one list: run_maintenance() and
 *	  the background worker both run exactly these, in this order.
 *
 * The list is fixed here rather than kept in a table whose rows name
 * functions: a reader sees every duty in one place, and nothing a row
 * could name is ever run with the worker's superuser rights.  Each duty
 * but the purge is a function of the extension's schema, looked up in that
 * schema and called by OID, never through a search_path.  A feature that
 * expires something adds its line.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/worker/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "base/extension.h"
#include "base/relations.h"
#include "retention/retention.h"
#include "worker/maintenance.h"

PG_FUNCTION_INFO_V1(personalize_run_maintenance);
PG_FUNCTION_INFO_V1(personalize_maintenance_duties);

const MaintenanceDuty MaintenanceDuties[] = {
	{"expire_consents", "_expire_consents",
		"mark consents past their expiry as expired, in state and history",
	{REL_CONSENT, REL_CONSENT_EVENT}},
	{"expire_grants", "_expire_grants",
		"record the expiry of access grants past their end, and how often grants were used",
	{REL_ACCESS_GRANT, REL_ACCESS_EVENT}},
	{"purge", NULL,
		"delete rows older than their table's retention rule",
	{NULL}},
	{"trim_purge_log", "_trim_purge_log",
		"forget purge runs older than personalize.purge_log_keep",
	{REL_PURGE_RUN}},
	{"fold_match_changes", "_match_fold",
		"rebuild the shared offer index once enough offers changed, and prune the change log it covers",
	{REL_MATCH_CHANGE, REL_MATCH_VERSION}},
	{"ship_copies", "_ship_copies",
		"on a Citus cluster, ship the changes to intents and signals to their copies placed with a table (distribute(colocate_with))",
	{REL_COPY_OUTBOX}},
};
const int	NumMaintenanceDuties = lengthof(MaintenanceDuties);

/*
 * A duty whose function the database does not have yet (it is at an older
 * version, see README "Upgrading") has nothing to do; nor has one that
 * would write a table a logical replication subscription fills: the
 * publisher does that work, and its changes arrive here.
 */
int64
MaintenanceRunDuty(const MaintenanceDuty *duty)
{
	Oid			fnoid;

	Assert(duty->function != NULL);
	for (int i = 0; i < (int) lengthof(duty->writes) && duty->writes[i] != NULL; i++)
	{
		Oid			relid = PersonalizeRelidIfExists(duty->writes[i]);

		if (OidIsValid(relid) && RelationIsSubscribed(relid))
			return 0;
	}
	fnoid = PersonalizeFunctionOid(duty->function, 0, NULL, true);
	if (!OidIsValid(fnoid))
		return 0;
	return DatumGetInt64(OidFunctionCall0(fnoid));
}

/*
 * run_maintenance() RETURNS TABLE (duty text, affected bigint): one pass,
 * in the caller's transaction.
 */
Datum
personalize_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < NumMaintenanceDuties; i++)
	{
		const MaintenanceDuty *duty = &MaintenanceDuties[i];
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(duty->name);
		values[1] = Int64GetDatum(duty->function ?
								  MaintenanceRunDuty(duty) :
								  RetentionPurgeAll("run_maintenance()"));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

/*
 * _maintenance_duties() RETURNS TABLE (duty text, position integer,
 * description text): the list, for the view personalize.maintenance_duty.
 */
Datum
personalize_maintenance_duties(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < NumMaintenanceDuties; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(MaintenanceDuties[i].name);
		values[1] = Int32GetDatum((i + 1) * 10);
		values[2] = CStringGetTextDatum(MaintenanceDuties[i].description);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
