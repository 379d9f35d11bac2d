/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  Append-only ledgers and the keyed pseudonyms of erased subjects.
 *
 * Consent history (and, later, the access, custody and purge ledgers) may
 * only grow.  A trigger refuses UPDATE, DELETE and TRUNCATE for every role,
 * the owner and superusers included; the one exception is forget(), which
 * replaces an erased subject's key by a keyed pseudonym.  It opens that
 * exception with LedgerBeginErasure(), a backend-local flag that no SQL can
 * set, and only for UPDATE.
 *
 * The pseudonym is HMAC-SHA256(key, subject), hex-encoded with a
 * "pseudonym:" prefix; the key lives in personalize.pseudonym_key, readable
 * only by the extension's owner, created on first use.  Whoever holds the
 * key can link a returning person's history to them again (to prove what
 * they agreed to); nobody else can recover the subject from the history.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "common/hmac.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "common.h"
#include "ledger.h"
#include "subject.h"

PG_FUNCTION_INFO_V1(personalize_ledger_guard);
PG_FUNCTION_INFO_V1(personalize_subject_pseudonym);

#define PSEUDONYM_PREFIX "pseudonym:"
#define SHA256_LEN 32

/* >0 while forget() rewrites ledger rows in this backend */
static int	erasure_depth = 0;

void
LedgerBeginErasure(void)
{
	erasure_depth++;
}

void
LedgerEndErasure(void)
{
	Assert(erasure_depth > 0);
	erasure_depth--;
}

/*
 * Trigger on ledger tables: refuse UPDATE, DELETE and TRUNCATE, except the
 * UPDATEs of forget()'s erasure path.
 */
Datum
personalize_ledger_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "personalize_ledger_guard: not called by trigger manager");

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		if (erasure_depth > 0)
			return PointerGetDatum(trigdata->tg_newtuple);
		what = "UPDATE";
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		what = "TRUNCATE";
	else
		return PointerGetDatum(trigdata->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("table \"%s\" is an append-only ledger",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s is refused for every role.", what),
			 errhint("To erase a subject, use personalize.forget(): it replaces the subject's key in the ledger by a keyed pseudonym.")));
	PG_RETURN_NULL();			/* keep compiler quiet */
}

/*
 * Read the pseudonym key, creating it on first use, as the extension's
 * owner (nobody else may read it).
 */
static bytea *
pseudonym_key(void)
{
	bool		isnull;
	Datum		key;

	/* two statements: the second sees a key a concurrent first use made */
	(void) ExtExecute("INSERT INTO personalize.pseudonym_key (key)"
					  " SELECT pg_catalog.decode(pg_catalog.replace("
					  "  pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||)"
					  "  pg_catalog.gen_random_uuid()::pg_catalog.text, '-', ''), 'hex')"
					  " ON CONFLICT DO NOTHING",
					  0, NULL, NULL, NULL, false, NULL, NULL);
	key = ExtValue("SELECT key FROM personalize.pseudonym_key",
				   0, NULL, NULL, NULL, false, &isnull);
	if (isnull)
		elog(ERROR, "could not read the pseudonym key");
	return DatumGetByteaPP(key);
}

/*
 * HMAC-SHA256 of data under key, into out[SHA256_LEN].
 */
static void
hmac_sha256(const uint8 *key, size_t keylen, const uint8 *data, size_t len,
			uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, out, SHA256_LEN) < 0)
		elog(ERROR, "could not compute HMAC-SHA256");
	pg_hmac_free(ctx);
}

/*
 * The keyed pseudonym of a subject, palloc'd in the current context.
 */
char *
SubjectPseudonym(const char *subject, int len)
{
	bytea	   *key = pseudonym_key();
	uint8		mac[SHA256_LEN];
	char	   *result;
	int			prefix = strlen(PSEUDONYM_PREFIX);

	hmac_sha256((const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
				(const uint8 *) subject, len, mac);
	result = palloc(prefix + 2 * SHA256_LEN + 1);
	memcpy(result, PSEUDONYM_PREFIX, prefix);
	for (int i = 0; i < SHA256_LEN; i++)
		sprintf(result + prefix + 2 * i, "%02x", mac[i]);
	return result;
}

/*
 * subject_pseudonym(subject text): the pseudonym forget() writes for a
 * subject, to find an erased person's consent history again.
 */
Datum
personalize_subject_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *subject;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be null")));
	subject = PG_GETARG_TEXT_PP(0);
	SubjectKeyCheck(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	SubjectKeyCheckCanonical(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	PG_RETURN_TEXT_P(cstring_to_text(SubjectPseudonym(VARDATA_ANY(subject),
													  VARSIZE_ANY_EXHDR(subject))));
}
