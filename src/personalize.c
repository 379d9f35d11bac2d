/*-------------------------------------------------------------------------
 *
 * personalize.c
 *	  Library entry point: the module magic and _PG_init, a table of
 *	  contents of what each part of the library sets up.
 *
 * Every SQL feature works whether or not the library is listed in
 * shared_preload_libraries; only the background worker, the reads kept
 * between statements, match()'s shared index and the grant use counters
 * need preloading.  Under binary upgrade the worker is not registered.
 *
 * Where things are: src/base/ holds what two or more features share, and
 * each other folder of src/ one feature; each folder's header file says
 * what it holds (doc/design.md draws the layers).
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

#include "base/bypass.h"
#include "base/copies.h"
#include "base/kept.h"
#include "consent/consent.h"
#include "ledgers/ledgers.h"
#include "match/match.h"
#include "privilege/privilege.h"
#include "retention/retention.h"
#include "review/review.h"
#include "worker/worker.h"

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
	KeptInit();					/* reads kept between statements */
	PolicyBypassInit();			/* personalize's own statements on protected tables */
	CopiesInit();				/* the Citus copies: only the extension writes them */
	ConsentInit();				/* has_consent()'s cache and its setting */
	LedgersInit();				/* the setting that lets DROP destroy ledgers */
	PrivilegeInit();			/* grant settings, grant use counters */
	ReviewInit();				/* the label provider, review settings */
	RetentionInit();			/* retention settings */
	MatchInit();				/* match() settings, counters, cache */
	if (!IsBinaryUpgrade)
		WorkerInit();			/* worker settings; preloaded, the launcher */
	MarkGUCPrefixReserved("personalize");
}
