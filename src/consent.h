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

/* has_consent() for C callers: one probe through the active snapshot */
extern bool ConsentCheck(const char *subject, int len, const char *purpose);

#endif							/* PERSONALIZE_CONSENT_H */
