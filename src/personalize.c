/*-------------------------------------------------------------------------
 *
 * personalize.c
 *	  Library entry point: the module magic and _PG_init.
 *
 * Every SQL feature works whether or not the library is listed in
 * shared_preload_libraries; only the background worker and match()'s
 * server-wide counters need preloading.  _PG_init lets each module define
 * its settings, hooks and callbacks; under binary upgrade only the label
 * provider (pg_upgrade restores labels) and the settings are registered.
 *
 * Where things are: common.c (the shared layer), consent.c (has_consent,
 * may_process, has_access), purpose.c, subject.c (subject keys, registered
 * tables, export and erasure), access.c (protected tables and grants),
 * ledger.c, classify.c (labels and the DDL review), views.c, retention.c
 * and worker.c, maintenance.c, match*.c, monthday.c, upgrade.c.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/personalize.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "access.h"
#include "classify.h"
#include "consent.h"
#include "match.h"
#include "retention.h"
#include "worker.h"

#if PG_VERSION_NUM >= 180000
PG_MODULE_MAGIC_EXT(.name = "personalize",.version = PERSONALIZE_VERSION);
#else
PG_MODULE_MAGIC;
#endif

void		_PG_init(void);

/*
 * Module load callback.
 */
void
_PG_init(void)
{
	ConsentInit();				/* has_consent()'s cache and its setting */
	AccessInit();				/* grant settings, grant use counters */
	ClassifyInit();				/* the label provider, review settings */
	RetentionInit();			/* retention settings */
	MatchInit();				/* match() settings, counters, cache */
	if (!IsBinaryUpgrade)
		WorkerInit();			/* worker settings; preloaded, the launcher */
	MarkGUCPrefixReserved("personalize");
}
