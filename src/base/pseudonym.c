/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  Keyed pseudonyms of subjects, and the SHA-256 they and the ledgers'
 *	  hash chains are computed with.
 *
 * The pseudonym is HMAC-SHA256(key, subject), hex-encoded with a
 * "pseudonym:" prefix; the key lives in personalize.pseudonym_key, readable
 * only by the extension's owner, created on first use.  Whoever holds the
 * key can link a returning person's history to them again (to prove what
 * they agreed to); nobody else can recover the subject from the history.
 * forget() writes pseudonyms into the consent history, the ledgers hash
 * subjects as their pseudonyms, and the custody log names the subjects
 * who left by them.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/pseudonym.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/compat.h"
#include "base/extension.h"
#include "base/pseudonym.h"
#include "base/runas.h"
#include "base/subject_key.h"

PG_FUNCTION_INFO_V1(personalize_subject_pseudonym);

typedef struct KeyRow
{
	bool		found;
	bytea	   *key;
	bool		committed;		/* written by a transaction other than ours */
} KeyRow;

static void
key_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	KeyRow	   *k = (KeyRow *) arg;
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, 1, &isnull);

	if (isnull)
		return;
	k->found = true;
	k->key = DatumGetByteaPCopy(d);
	k->committed = !TransactionIdIsCurrentTransactionId(
		DatumGetTransactionId(SPI_getbinval(tuple, desc, 2, &isnull)));
}

/*
 * Read the pseudonym key as the extension's owner (nobody else may read
 * it); with create, make it first if there is none.  Reading comes first,
 * so that a database that has its key (a standby, too) is never written
 * to.  Returns false when there is no key (and create is false).
 */
static bool
pseudonym_key(bool create, KeyRow *k)
{
	static const char *select = "SELECT key, xmin FROM personalize.pseudonym_key";

	memset(k, 0, sizeof(KeyRow));
	(void) ExtExecute(select, 0, NULL, NULL, NULL, true, key_row, k);
	if (k->found || !create)
		return k->found;
	/* a concurrent first use may make it too: the read after sees theirs */
	(void) ExtExecute("INSERT INTO personalize.pseudonym_key (key)"
					  " SELECT pg_catalog.decode(pg_catalog.replace("
					  "  pg_catalog.gen_random_uuid()::pg_catalog.text OPERATOR(pg_catalog.||)"
					  "  pg_catalog.gen_random_uuid()::pg_catalog.text, '-', ''), 'hex')"
					  " ON CONFLICT DO NOTHING",
					  0, NULL, NULL, NULL, false, NULL, NULL);
	/* not read-only: the snapshot must see the key just made */
	(void) ExtExecute(select, 0, NULL, NULL, NULL, false, key_row, k);
	if (!k->found)
		elog(ERROR, "could not read the pseudonym key");
	return true;
}

/*
 * The key, as HMAC's inner and outer pads (RFC 2104).  A key read from a
 * row another transaction wrote is kept for the backend's life, per
 * extension: it never changes once made (pg_dump keeps it).  One this
 * transaction made is not kept, as the transaction may still roll back.
 */
static struct
{
	Oid			extoid;			/* InvalidOid: nothing kept */
	uint8		ipad[SHA256_BLOCK];
	uint8		opad[SHA256_BLOCK];
}			kept_key;

/* ---------------------------------------------------------------------
 * SHA-256
 *
 * A chain entry costs one SHA-256 of its content and, for consent history,
 * an HMAC of its subject: two more.  verify_ledgers() does that for every
 * entry, so the per-call overhead matters more than the compression.  With
 * OpenSSL (as PostgreSQL is built on Debian and most platforms), the digest
 * is fetched once per backend, the contexts are reused, and the HMAC starts
 * from the key's inner and outer states, computed once per key; this is
 * several times faster than pg_cryptohash's create/init/final per digest,
 * which looks the algorithm up each time.  Without OpenSSL, pg_cryptohash
 * (PostgreSQL's own SHA-256) does the same work.
 * ---------------------------------------------------------------------
 */
#ifdef USE_OPENSSL
#include <openssl/evp.h>

/*
 * OpenSSL 3 fetches an algorithm's implementation by name, and an init with
 * the fetched one skips the lookup; 1.1 has neither and needs none.
 */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
#define PERSONALIZE_SHA256_MD() EVP_MD_fetch(NULL, "SHA256", NULL)
#define PersonalizeDigestInit(ctx, md) EVP_DigestInit_ex2((ctx), (md), NULL)
#else
#define PERSONALIZE_SHA256_MD() ((EVP_MD *) EVP_sha256())
#define PersonalizeDigestInit(ctx, md) EVP_DigestInit_ex((ctx), (md), NULL)
#endif

/*
 * Allocated once per backend and kept: no digest call in between can throw
 * (the ereports come after a failed call), so nothing leaks on error.
 */
static EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_work = NULL;
static EVP_MD_CTX *sha256_inner = NULL;	/* the key's ipad, absorbed */
static EVP_MD_CTX *sha256_outer = NULL;	/* the key's opad, absorbed */
static uint8 sha256_pads_of[SHA256_BLOCK];	/* the ipad the two were made from */
static bool sha256_pads_valid = false;

static void
sha256_failed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("could not compute SHA-256 with OpenSSL")));
}

static void
sha256_setup(void)
{
	if (sha256_md != NULL)
		return;
	sha256_work = EVP_MD_CTX_new();
	sha256_inner = EVP_MD_CTX_new();
	sha256_outer = EVP_MD_CTX_new();
	sha256_md = PERSONALIZE_SHA256_MD();
	if (sha256_md == NULL || sha256_work == NULL || sha256_inner == NULL || sha256_outer == NULL)
		sha256_failed();
}

void
Sha256Two(const void *a, size_t alen, const void *b, size_t blen, uint8 *out)
{
	sha256_setup();
	if (!PersonalizeDigestInit(sha256_work, sha256_md) ||
		!EVP_DigestUpdate(sha256_work, a, alen) ||
		(blen > 0 && !EVP_DigestUpdate(sha256_work, b, blen)) ||
		!EVP_DigestFinal_ex(sha256_work, out, NULL))
		sha256_failed();
}

/* HMAC-SHA256 from the key's pads (RFC 2104), the pad states kept */
static void
hmac_sha256(const uint8 *ipad, const uint8 *opad, const void *data, size_t len, uint8 *out)
{
	uint8		inner[SHA256_LEN];

	sha256_setup();
	if (!sha256_pads_valid || memcmp(sha256_pads_of, ipad, SHA256_BLOCK) != 0)
	{
		sha256_pads_valid = false;
		if (!PersonalizeDigestInit(sha256_inner, sha256_md) ||
			!EVP_DigestUpdate(sha256_inner, ipad, SHA256_BLOCK) ||
			!PersonalizeDigestInit(sha256_outer, sha256_md) ||
			!EVP_DigestUpdate(sha256_outer, opad, SHA256_BLOCK))
			sha256_failed();
		memcpy(sha256_pads_of, ipad, SHA256_BLOCK);
		sha256_pads_valid = true;
	}
	if (!EVP_MD_CTX_copy_ex(sha256_work, sha256_inner) ||
		!EVP_DigestUpdate(sha256_work, data, len) ||
		!EVP_DigestFinal_ex(sha256_work, inner, NULL) ||
		!EVP_MD_CTX_copy_ex(sha256_work, sha256_outer) ||
		!EVP_DigestUpdate(sha256_work, inner, SHA256_LEN) ||
		!EVP_DigestFinal_ex(sha256_work, out, NULL))
		sha256_failed();
}

#else							/* !USE_OPENSSL */

void
Sha256Two(const void *a, size_t alen, const void *b, size_t blen, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) a, alen) < 0 ||
		(blen > 0 && pg_cryptohash_update(ctx, (const uint8 *) b, blen) < 0) ||
		pg_cryptohash_final(ctx, out, SHA256_LEN) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

static void
hmac_sha256(const uint8 *ipad, const uint8 *opad, const void *data, size_t len, uint8 *out)
{
	uint8		inner[SHA256_LEN];
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, ipad, SHA256_BLOCK) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, inner, SHA256_LEN) < 0 ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, opad, SHA256_BLOCK) < 0 ||
		pg_cryptohash_update(ctx, inner, SHA256_LEN) < 0 ||
		pg_cryptohash_final(ctx, out, SHA256_LEN) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}
#endif							/* USE_OPENSSL */

struct PseudonymHasher
{
	bool		have_key;
	uint8		ipad[SHA256_BLOCK];
	uint8		opad[SHA256_BLOCK];
};

/*
 * A hasher for pseudonyms and chain hashes, in the current memory context
 * and resource owner.  With create, the key is made if there is none, and
 * may come from the backend's copy; without (verification), it is read from
 * the table, and a database that has none gives a hasher without a key
 * (PseudonymHasherHasKey() is false).
 */
PseudonymHasher *
PseudonymHasherCreate(bool create)
{
	PseudonymHasher *h = palloc0(sizeof(PseudonymHasher));
	Oid			extoid = PersonalizeExtensionOid();

	/* verification (without create) reads the key itself, never a kept copy */
	if (create && kept_key.extoid == extoid)
	{
		memcpy(h->ipad, kept_key.ipad, SHA256_BLOCK);
		memcpy(h->opad, kept_key.opad, SHA256_BLOCK);
		h->have_key = true;
	}
	else
	{
		KeyRow		k;

		if (pseudonym_key(create, &k))
		{
			bytea	   *key = k.key;
			uint8		block[SHA256_BLOCK];
			size_t		keylen = VARSIZE_ANY_EXHDR(key);

			memset(block, 0, SHA256_BLOCK);
			if (keylen > SHA256_BLOCK)
				Sha256Two(VARDATA_ANY(key), keylen, NULL, 0, block);
			else
				memcpy(block, VARDATA_ANY(key), keylen);
			for (int i = 0; i < SHA256_BLOCK; i++)
			{
				h->ipad[i] = block[i] ^ 0x36;
				h->opad[i] = block[i] ^ 0x5c;
			}
			h->have_key = true;
			if (k.committed)
			{
				memcpy(kept_key.ipad, h->ipad, SHA256_BLOCK);
				memcpy(kept_key.opad, h->opad, SHA256_BLOCK);
				kept_key.extoid = extoid;
			}
		}
	}
	return h;
}

PseudonymHasher *
PseudonymHasherWithoutKey(void)
{
	return palloc0(sizeof(PseudonymHasher));
}

bool
PseudonymHasherHasKey(PseudonymHasher *h)
{
	return h->have_key;
}

void
PseudonymHasherFree(PseudonymHasher *h)
{
	pfree(h);
}

/*
 * The pseudonym of a subject: "pseudonym:" and HMAC-SHA256(key, subject) in
 * hex, into out[PSEUDONYM_LEN + 1].
 */
void
PseudonymMac(PseudonymHasher *h, const char *subject, int len, uint8 *mac)
{
	Assert(h->have_key);
	hmac_sha256(h->ipad, h->opad, subject, len, mac);
}

void
PseudonymHexFromMac(const uint8 *mac, char *out)
{
	int			prefix = strlen(PSEUDONYM_PREFIX);

	memcpy(out, PSEUDONYM_PREFIX, prefix);
	hex_encode((const char *) mac, SHA256_LEN, out + prefix);
	out[prefix + 2 * SHA256_LEN] = '\0';
}

void
PseudonymHex(PseudonymHasher *h, const char *subject, int len, char *out)
{
	uint8		mac[SHA256_LEN];

	PseudonymMac(h, subject, len, mac);
	PseudonymHexFromMac(mac, out);
}

/*
 * The keyed pseudonym of a subject, palloc'd in the current context.
 */
char *
SubjectPseudonym(const char *subject, int len)
{
	PseudonymHasher *h = PseudonymHasherCreate(true);
	char	   *result = palloc(PSEUDONYM_LEN + 1);

	PseudonymHex(h, subject, len, result);
	PseudonymHasherFree(h);
	return result;
}

/*
 * The same, or NULL when the database has no key yet (then no pseudonym
 * was ever written): for readers, which must not write (a standby).
 */
char *
SubjectPseudonymIfKey(const char *subject, int len)
{
	PseudonymHasher *h = PseudonymHasherCreate(false);
	char	   *result = NULL;

	if (h->have_key)
	{
		result = palloc(PSEUDONYM_LEN + 1);
		PseudonymHex(h, subject, len, result);
	}
	PseudonymHasherFree(h);
	return result;
}

/*
 * subject_pseudonym(subject text): the pseudonym forget() writes for a
 * subject, to find an erased person's consent history again.
 *
 * Whoever computes pseudonyms and reads consent_history re-identifies the
 * forgotten by trying keys, so it is for the role that may erase them: the
 * calling role needs EXECUTE on forget(text), whatever grants this
 * function.  A SECURITY DEFINER function of the extension's (recipients())
 * calls it as the extension's owner.
 */
Datum
personalize_subject_pseudonym(PG_FUNCTION_ARGS)
{
	text	   *subject;
	Oid			textoid = TEXTOID;

	if (PersonalizeProcAclCheck(PersonalizeFunctionOid("forget", 1, &textoid, false),
								GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to compute subject pseudonyms"),
				 errdetail("A pseudonym names a forgotten subject's consent history; "
						   "only a role that may call forget(text) may compute one."),
				 errhint("Grant EXECUTE on function %s.forget(text) to the role that answers erasure requests.",
						 quote_identifier(get_namespace_name(PersonalizeSchemaOid())))));

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
