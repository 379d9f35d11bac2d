/*-------------------------------------------------------------------------
 *
 * match.h
 *	  match(): ranking offers by stated interests and behaviour.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/match/match.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MATCH_H
#define PERSONALIZE_MATCH_H

extern void MatchInit(void);

#endif							/* PERSONALIZE_MATCH_H */
