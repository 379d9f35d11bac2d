/*-------------------------------------------------------------------------
 *
 * review.h
 *	  Review: columns classified with data categories through the
 *	  "personalize" security label provider and classify(), and moments of
 *	  review when DDL adds personal-looking columns (classify.c); review()
 *	  itself, its checks and proxy detection are SQL (sql/src/review*.sql).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/review/review.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_CLASSIFY_H
#define PERSONALIZE_CLASSIFY_H

/* the label provider and the settings of classification and review */
extern void ReviewInit(void);

#endif							/* PERSONALIZE_CLASSIFY_H */
