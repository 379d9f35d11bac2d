/*-------------------------------------------------------------------------
 *
 * ledgers.h
 *	  Tamper-evident ledgers: consent history, the access ledger, the
 *	  custody log and the purge ledger may only grow, and each is a hash
 *	  chain that verify_ledgers() checks (ledgers.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/ledgers/ledgers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_LEDGERS_H
#define PERSONALIZE_LEDGERS_H

/* the setting that lets DROP EXTENSION destroy ledgers with entries */
extern void LedgersInit(void);

/*
 * Open (and close) the one exception to append-only: forget()'s rewrite of
 * an erased subject's key.  Backend-local; no SQL can open it.
 */
extern void LedgerBeginErasure(void);
extern void LedgerEndErasure(void);

/* does the custody log exist (a database at 0.2.0 or later)? */
extern bool CustodyLogExists(void);

#endif							/* PERSONALIZE_LEDGERS_H */
