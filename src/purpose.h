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

#endif							/* PERSONALIZE_PURPOSE_H */
