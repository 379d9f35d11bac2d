/*-------------------------------------------------------------------------
 *
 * consent.h
 *	  Purposes and consent: has_consent(), may_process() and the purpose
 *	  registry's rules (consent.c, purpose.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/consent/consent.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_CONSENT_H
#define PERSONALIZE_CONSENT_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

extern void ConsentInit(void);

/* has_consent() for C callers: one probe through the active snapshot */
extern bool ConsentCheck(const char *subject, int len, const char *purpose);

/*
 * The state of a call site of a consent check (kept in its FmgrInfo), for
 * another check built on it: has_access() asks, per grant, whether the
 * subject's data may be used for the grant's purpose.  ConsentSiteGet()
 * returns the call's site, reset when the statement's snapshot, its start
 * time or this backend's aborted subtransactions changed since it was
 * built; its memory, and the caller's extra state, go with a reset.
 * With may_process, a purpose whose lawful basis is not consent holds
 * unless the subject objected.
 */
typedef struct ConsentSite ConsentSite;
typedef struct PurposeState PurposeState;

extern ConsentSite *ConsentSiteGet(FunctionCallInfo fcinfo, bool may_process);
extern Snapshot ConsentSiteSnapshot(const ConsentSite *site);
extern TimestampTz ConsentSiteStart(const ConsentSite *site);
extern MemoryContext ConsentSiteMemory(const ConsentSite *site);
extern bool ConsentSiteReadsCopies(const ConsentSite *site);
extern void *ConsentSiteExtra(const ConsentSite *site);
extern void ConsentSiteSetExtra(ConsentSite *site, void *extra);
/* the state of the purpose with this id, apart from the site's named ones */
extern PurposeState *ConsentSitePurpose(ConsentSite *site, int32 purpose_id);
/* the site's answer for a subject, as text, bigint or uuid */
extern bool ConsentAnswerText(ConsentSite *site, PurposeState *ps,
							  const char *s, int len);
extern bool ConsentAnswerInt8(ConsentSite *site, PurposeState *ps, int64 subject);
extern bool ConsentAnswerUuid(ConsentSite *site, PurposeState *ps,
							  pg_uuid_t *subject);

/* purposes may nest this deep (a purpose and its ancestors) */
#define MAX_PURPOSE_DEPTH	32

/*
 * The id of a purpose by name, or the one error for an unknown purpose,
 * whose hint lists the known ones.  Read through the active snapshot.
 */
extern int32 PurposeId(const char *name);
extern void PurposeUnknownError(const char *name);	/* does not return */

/*
 * Lawful bases (GDPR Art. 6), as personalize.purpose.lawful_basis stores
 * them.  A purpose whose basis is consent needs the subject's grant; any
 * other basis holds unless the subject objected (withdraw_consent()).
 */
#define LAWFUL_BASIS_CONSENT "consent"

/* a purpose's lawful basis ("consent" in a database older than 0.2.0) */
extern char *PurposeLawfulBasis(const char *name);
/* false in a database older than 0.2.0, which has no lawful bases */
extern bool PurposeHasLawfulBases(void);

#endif							/* PERSONALIZE_CONSENT_H */
