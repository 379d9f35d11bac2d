/*-------------------------------------------------------------------------
 *
 * personalize.h
 *	  Declarations shared by the modules of the personalize extension.
 *
 * Each module (consent.c, monthday.c, ...) exposes an Init function that
 * _PG_init calls, and the few module APIs other modules need.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/personalize.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_H
#define PERSONALIZE_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"

/* the extension's schema; the control file makes it fixed */
#define PERSONALIZE_SCHEMA "personalize"

/* MarkGUCPrefixReserved is the PostgreSQL 15 name of an older function */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* ownership check of a relation, whose API changed in PostgreSQL 16 */
#if PG_VERSION_NUM >= 160000
#define PersonalizeRelOwnerCheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define PersonalizeRelOwnerCheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

/*
 * What PersonalizeBecomeOwner saved, for PersonalizeRestoreUser.  An error
 * in between needs no cleanup: transaction abort restores both.
 */
typedef struct OwnerSwitch
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} OwnerSwitch;

/* a materialized set-returning function's tuplestore, before PostgreSQL 15 */
#if PG_VERSION_NUM < 150000
#define InitMaterializedSRF(fcinfo, flags) PersonalizeInitMaterializedSRF(fcinfo)
extern void PersonalizeInitMaterializedSRF(FunctionCallInfo fcinfo);
#endif

/* personalize.c */
extern Oid	PersonalizeSchemaOid(void);
extern Oid	PersonalizeTypeOid(const char *typname);
extern Oid	PersonalizeRelid(const char *relname);
extern AttrNumber PersonalizeAttnum(Oid relid, const char *colname);
extern void PersonalizeBecomeOwner(OwnerSwitch *sw);
extern void PersonalizeRestoreUser(OwnerSwitch *sw);

/* ledger.c */
extern void LedgerBeginErasure(void);
extern void LedgerEndErasure(void);
extern char *SubjectPseudonym(const char *subject, int len);

#endif							/* PERSONALIZE_H */
