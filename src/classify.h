/*-------------------------------------------------------------------------
 *
 * classify.h
 *	  Column classification, consent views and review settings.
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

/* values of personalize.unclassified_columns */
typedef enum
{
	UNCLASSIFIED_HIDE,
	UNCLASSIFIED_SHOW
} UnclassifiedColumns;

/* values of personalize.review_ddl */
typedef enum
{
	REVIEW_DDL_OFF,
	REVIEW_DDL_NOTICE,
	REVIEW_DDL_WARNING,
	REVIEW_DDL_ERROR
} ReviewDdl;

extern int	unclassified_columns;
extern int	review_ddl;

extern void ClassifyInit(void);

#endif							/* PERSONALIZE_CLASSIFY_H */
