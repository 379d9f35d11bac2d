/*-------------------------------------------------------------------------
 *
 * monthday.h
 *	  The monthday type: a day of the year without a year, for birthdays that need
 *	  a month and a day and never the year (monthday.c).
 *
 * Nothing here is called from other folders: the folder's functions are
 * reached from SQL only.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/monthday/monthday.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_MONTHDAY_H
#define PERSONALIZE_MONTHDAY_H

#endif							/* PERSONALIZE_MONTHDAY_H */
