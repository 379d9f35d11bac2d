/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The differences between the PostgreSQL versions personalize supports
 *	  (15 to 18), in one place.
 *
 * Each guard is here because a build on that version needed it; the code
 * elsewhere calls the names defined below and never tests PG_VERSION_NUM.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_COMPAT_H
#define PERSONALIZE_COMPAT_H

#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/regproc.h"

#if PG_VERSION_NUM < 150000
#error "personalize needs PostgreSQL 15 or later"
#endif

/* ownership of a relation: object_ownercheck() from 16 */
#if PG_VERSION_NUM >= 160000
#define PersonalizeRelOwnerCheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define PersonalizeRelOwnerCheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

/* EXECUTE and other rights on a function: object_aclcheck() from 16 */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_proc.h"
#define PersonalizeProcAclCheck(procid, roleid, mode) \
	object_aclcheck(ProcedureRelationId, (procid), (roleid), (mode))
#else
#define PersonalizeProcAclCheck(procid, roleid, mode) \
	pg_proc_aclcheck((procid), (roleid), (mode))
#endif

/* stringToQualifiedNameList() gained a soft-error argument in 16 */
#if PG_VERSION_NUM >= 160000
#define PersonalizeQualifiedNameList(s) stringToQualifiedNameList((s), NULL)
#else
#define PersonalizeQualifiedNameList(s) stringToQualifiedNameList(s)
#endif

/* "am I a background worker?": IsBackgroundWorker is gone in 17 */
#if PG_VERSION_NUM >= 170000
#define PersonalizeInBackgroundWorker() AmBackgroundWorkerProcess()
#else
#define PersonalizeInBackgroundWorker() IsBackgroundWorker
#endif

/* ALTER TABLE ... ADD COLUMN on a parent had a subtype of its own before 16 */
#if PG_VERSION_NUM >= 160000
#define PersonalizeIsAddColumn(subtype) ((subtype) == AT_AddColumn)
#else
#define PersonalizeIsAddColumn(subtype) \
	((subtype) == AT_AddColumn || (subtype) == AT_AddColumnRecurse)
#endif

/*
 * A type's input function reports bad input "softly" from 16 on (to
 * pg_input_is_valid() and friends); before that it raises the error.
 */
#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#define PERSONALIZE_INPUT_ERROR(escontext, ...) \
	ereturn(escontext, (Datum) 0, __VA_ARGS__)
#else
#define PERSONALIZE_INPUT_ERROR(escontext, ...) \
	ereport(ERROR, __VA_ARGS__)
#endif

/*
 * Convert text to a value of a type, returning false instead of raising a
 * data exception (invalid input, out of range).  16 has soft errors; on 15
 * the conversion runs in a subtransaction (compat.c).
 */
extern bool PersonalizeInputSafe(Oid typinput, const char *str, Oid typioparam,
								 int32 typmod, Datum *result);

/*
 * May a subtransaction start now?  Not in a parallel operation (a parallel
 * plan's leader, or a worker) before 17, which allows one that assigns no
 * transaction id.
 */
#if PG_VERSION_NUM >= 170000
#define PersonalizeSubtransactionAllowed() true
#else
#include "access/xact.h"
#define PersonalizeSubtransactionAllowed() (!IsInParallelMode())
#endif

/* the local id of the current top-level transaction: in PGPROC.vxid from 17 */
#include "storage/proc.h"
#if PG_VERSION_NUM >= 170000
#define PersonalizeLocalXid() (MyProc->vxid.lxid)
#else
#define PersonalizeLocalXid() (MyProc->lxid)
#endif

/*
 * VARDATA_ANY() and the other varlena macros: in varatt.h from 16, which
 * postgres.h no longer includes in 18
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#endif							/* PERSONALIZE_COMPAT_H */
