/*-------------------------------------------------------------------------
 *
 * classify.h
 *	  Column classification and the DDL review (classify.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/classify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_CLASSIFY_H
#define PERSONALIZE_CLASSIFY_H

/* the label provider and the settings of classification and review */
extern void ReviewInit(void);

#endif							/* PERSONALIZE_CLASSIFY_H */
