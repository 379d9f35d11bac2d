/*-------------------------------------------------------------------------
 *
 * personalize.h
 *	  Declarations shared by the modules of the personalize extension.
 *
 * Each module (consent.c, monthday.c, ...) exposes an Init function that
 * _PG_init calls, and the few module APIs other modules need.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/personalize.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_H
#define PERSONALIZE_H

#include "postgres.h"

/* the extension's schema; the control file makes it fixed */
#define PERSONALIZE_SCHEMA "personalize"

/* MarkGUCPrefixReserved is the PostgreSQL 15 name of an older function */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* personalize.c */
extern Oid	PersonalizeSchemaOid(void);
extern Oid	PersonalizeTypeOid(const char *typname);

#endif							/* PERSONALIZE_H */
