/*-------------------------------------------------------------------------
 *
 * bypass.h
 *	  personalize's own statements on a protected table (bypass.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/bypass.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_BYPASS_H
#define PERSONALIZE_BYPASS_H

#include "postgres.h"

extern void PolicyBypassInit(void);

/*
 * has_access() answers true for the rows of the table (and subject, when
 * not NULL) until PolicyBypassEnd(), or the end of the (sub)transaction.
 */
extern void PolicyBypassBegin(Oid relid, const char *subject);
extern void PolicyBypassEnd(void);
extern bool PolicyBypassActive(Oid relid);
extern bool PolicyBypassed(Oid relid, const char *subject, int len);

#endif							/* PERSONALIZE_BYPASS_H */
