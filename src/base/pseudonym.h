/*-------------------------------------------------------------------------
 *
 * pseudonym.h
 *	  Keyed pseudonyms of subjects and SHA-256 (pseudonym.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/pseudonym.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_PSEUDONYM_H
#define PERSONALIZE_PSEUDONYM_H

#include "postgres.h"

#include "base/subject_key.h"	/* PSEUDONYM_PREFIX */

#define SHA256_LEN 32
#define SHA256_BLOCK 64

/* SHA-256 of a followed by b (blen may be 0), into out[SHA256_LEN] */
extern void Sha256Two(const void *a, size_t alen, const void *b, size_t blen,
					  uint8 *out);

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
#define PSEUDONYM_LEN (10 + 64)	/* the prefix and 64 hex digits */
typedef struct PseudonymHasher PseudonymHasher;
extern PseudonymHasher *PseudonymHasherCreate(bool create);
extern PseudonymHasher *PseudonymHasherWithoutKey(void);
extern bool PseudonymHasherHasKey(PseudonymHasher *h);
extern void PseudonymHex(PseudonymHasher *h, const char *subject, int len,
						 char *out);
/* the same in two steps: the 32-byte HMAC, and its text form */
#define PSEUDONYM_MAC_LEN 32
extern void PseudonymMac(PseudonymHasher *h, const char *subject, int len,
						 uint8 *mac);
extern void PseudonymHexFromMac(const uint8 *mac, char *out);
extern void PseudonymHasherFree(PseudonymHasher *h);

#endif							/* PERSONALIZE_PSEUDONYM_H */
