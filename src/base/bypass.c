/*-------------------------------------------------------------------------
 *
 * bypass.c
 *	  personalize's own statements on a protected table, as its owner (the
 *	  erasure and export of one subject, a share, the purge of expired
 *	  rows), see the rows they act on even when FORCE ROW LEVEL SECURITY
 *	  binds the owner.
 *
 * Between PolicyBypassBegin() and PolicyBypassEnd(), has_access() answers
 * true for the rows of that one table (and subject, when one is named).
 * The flag is backend-local, no SQL can set it, and the end of the
 * (sub)transaction that set it clears it, so an error in between cannot
 * leave it open.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/bypass.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "utils/memutils.h"

#include "base/bypass.h"

static Oid	bypass_relid = InvalidOid;
static char *bypass_subject = NULL;
static SubTransactionId bypass_subxid = InvalidSubTransactionId;

void
PolicyBypassBegin(Oid relid, const char *subject)
{
	bypass_relid = relid;
	bypass_subject = subject ? MemoryContextStrdup(TopTransactionContext, subject) : NULL;
	bypass_subxid = GetCurrentSubTransactionId();
}

void
PolicyBypassEnd(void)
{
	bypass_relid = InvalidOid;
	bypass_subject = NULL;
	bypass_subxid = InvalidSubTransactionId;
}

bool
PolicyBypassActive(Oid relid)
{
	return OidIsValid(bypass_relid) && bypass_relid == relid;
}

bool
PolicyBypassed(Oid relid, const char *subject, int len)
{
	if (!PolicyBypassActive(relid))
		return false;
	return bypass_subject == NULL ||
		((int) strlen(bypass_subject) == len && memcmp(bypass_subject, subject, len) == 0);
}

/* an error between Begin and End ends the bypass with its (sub)transaction */
static void
bypass_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		PolicyBypassEnd();
}

static void
bypass_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid pg_attribute_unused(),
						void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB && OidIsValid(bypass_relid) &&
		mySubid <= bypass_subxid)
		PolicyBypassEnd();
}

/*
 * Register the callbacks that end a bypass with its (sub)transaction.
 */
void
PolicyBypassInit(void)
{
	RegisterXactCallback(bypass_xact_callback, NULL);
	RegisterSubXactCallback(bypass_subxact_callback, NULL);
}
