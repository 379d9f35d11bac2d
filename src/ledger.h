/*-------------------------------------------------------------------------
 *
 * ledger.h
 *	  Append-only ledgers and keyed pseudonyms (ledger.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/ledger.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_LEDGER_H
#define PERSONALIZE_LEDGER_H

/*
 * Open (and close) the one exception to append-only: forget()'s rewrite of
 * an erased subject's key.  Backend-local; no SQL can open it.
 */
extern void LedgerBeginErasure(void);
extern void LedgerEndErasure(void);

/* the keyed pseudonym of a subject, palloc'd; reads the key as the owner */
extern char *SubjectPseudonym(const char *subject, int len);

#endif							/* PERSONALIZE_LEDGER_H */
