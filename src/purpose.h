/*-------------------------------------------------------------------------
 *
 * purpose.h
 *	  The purpose registry's rules (purpose.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/purpose.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_PURPOSE_H
#define PERSONALIZE_PURPOSE_H

/* purposes may nest this deep (a purpose and its ancestors) */
#define MAX_PURPOSE_DEPTH	32

/*
 * The id of a purpose by name, or the one error for an unknown purpose,
 * whose hint lists the known ones.  Read through the active snapshot.
 */
extern int32 PurposeId(const char *name);
extern void PurposeUnknownError(const char *name);	/* does not return */

/*
 * Lawful bases (GDPR Art. 6), as personalize.purpose.lawful_basis stores
 * them.  A purpose whose basis is consent needs the subject's grant; any
 * other basis holds unless the subject objected (withdraw_consent()).
 */
#define LAWFUL_BASIS_CONSENT "consent"

/* a purpose's lawful basis ("consent" in a database older than 0.2.0) */
extern char *PurposeLawfulBasis(const char *name);
/* false in a database older than 0.2.0, which has no lawful bases */
extern bool PurposeHasLawfulBases(void);

#endif							/* PERSONALIZE_PURPOSE_H */
