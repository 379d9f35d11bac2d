/*-------------------------------------------------------------------------
 *
 * consent.h
 *	  has_consent() and its settings.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/consent.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_CONSENT_H
#define PERSONALIZE_CONSENT_H

extern void ConsentInit(void);

#endif							/* PERSONALIZE_CONSENT_H */
