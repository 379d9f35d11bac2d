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
/* or NULL when there is no key yet; never writes */
extern char *SubjectPseudonymIfKey(const char *subject, int len);

/*
 * Many pseudonyms at the cost of one key read: a hasher made in the current
 * memory context and resource owner (so within one transaction).  Without
 * create (verification), the key is read afresh, and a database that has
 * none yet gives a hasher without one.
 */
#define PSEUDONYM_PREFIX "pseudonym:"	/* reserved: no customer's key begins so */
#define PSEUDONYM_LEN (10 + 64)	/* the prefix and 64 hex digits */
typedef struct PseudonymHasher PseudonymHasher;
extern PseudonymHasher *PseudonymHasherCreate(bool create);
extern bool PseudonymHasherHasKey(PseudonymHasher *h);
extern void PseudonymHex(PseudonymHasher *h, const char *subject, int len,
						 char *out);
/* the same in two steps: the 32-byte HMAC, and its text form */
#define PSEUDONYM_MAC_LEN 32
extern void PseudonymMac(PseudonymHasher *h, const char *subject, int len,
						 uint8 *mac);
extern void PseudonymHexFromMac(const uint8 *mac, char *out);
extern void PseudonymHasherFree(PseudonymHasher *h);

/* does the custody log exist (a database at 0.2.0 or later)? */
extern bool CustodyLogExists(void);

#endif							/* PERSONALIZE_LEDGER_H */
