/*-------------------------------------------------------------------------
 *
 * partners.h
 *	  Partners and the chain of custody: share() hands a partner only what
 *	  its agreement covers and records every hand-over in the custody log;
 *	  and the subject counts of the record of processing (partners.c).
 *
 * Nothing here is called from other folders: the folder's functions are
 * reached from SQL only.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/partners/partners.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_PARTNERS_H
#define PERSONALIZE_PARTNERS_H

#endif							/* PERSONALIZE_PARTNERS_H */
