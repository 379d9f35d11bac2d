/*-------------------------------------------------------------------------
 *
 * ledgers.c
 *	  Append-only, hash-chained ledgers: the guard, the chain, and their
 *	  verification.
 *
 * Four ledgers may only grow: consent history (consent_event), the access
 * ledger (access_event), the custody log (custody_event) and the purge
 * ledger (purge_event).  A trigger refuses UPDATE, DELETE and TRUNCATE for
 * every role, the owner and superusers included; the one exception is
 * forget(), which replaces an erased subject's key by a keyed pseudonym.  It
 * opens that exception with LedgerBeginErasure(), a backend-local flag that
 * no SQL can set, and only for UPDATE.
 *
 * A superuser can still switch the trigger off.  So every ledger is also a
 * hash chain: a BEFORE INSERT trigger (personalize_ledger_chain) gives each
 * entry its position (chain_seq, from 1), the hash of the entry before it
 * (prev_hash) and its own hash (entry_hash):
 *
 *	entry_hash = SHA-256(prev_hash || "personalize ledger 1" NUL ledger NUL
 *						 chain_seq || canonical content)
 *
 * The canonical content is every non-null column but the three chain
 * columns, by name, in column order, each value in a form that no setting
 * changes (integers, times and floats as 8 big-endian bytes, text as its
 * bytes); a column added later and left null leaves old hashes as they
 * were.  The chain is kept linear by a lock per ledger, held by the writer
 * until its transaction ends: the next writer reads the head only after the
 * previous one committed or rolled back.
 *
 * forget() keeps the chains verifiable because consent history is hashed
 * with the subject's pseudonym, never with the key itself: an entry written
 * for subject 42 hashes "pseudonym:<HMAC(key, 42)>", and after forget()
 * rewrote the row to that pseudonym it hashes the same bytes.  So erasure
 * needs no redaction record and no rehashing, and an entry that names the
 * subject is checked the same way before and after.
 *
 * verify_ledgers() walks each chain in order and names the first broken
 * link; with a digest from ledger_digest() (each chain's length and head)
 * it also finds a chain cut short at its end, or rewritten from the start
 * by someone who recomputed every hash.
 *
 * The pseudonyms and SHA-256 are in base/pseudonym.c.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/ledgers/ledgers.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "storage/itemptr.h"

#include "base/copies.h"
#include "base/extension.h"
#include "base/relations.h"
#include "base/pseudonym.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "ledgers/ledgers.h"

PG_FUNCTION_INFO_V1(personalize_ledger_guard);
PG_FUNCTION_INFO_V1(personalize_ledger_chain);
PG_FUNCTION_INFO_V1(personalize_verify_ledger);
PG_FUNCTION_INFO_V1(personalize_ledger_head);
PG_FUNCTION_INFO_V1(personalize_ledger_rechain);
PG_FUNCTION_INFO_V1(personalize_drop_guard);

#define CHAIN_DOMAIN "personalize ledger 1"

/* the ledgers, in the order verify_ledgers() reports them */
typedef struct LedgerDef
{
	const char *name;			/* as SQL names it */
	const char *relname;
	const char *subject_column; /* hashed as its pseudonym, or NULL */
	/*
	 * The state the ledger records, against its entries: a query counting
	 * what has no entry, and the problem it makes (one %lld), or NULL.
	 */
	const char *state_check;
	const char *state_problem;
} LedgerDef;

static const LedgerDef ledger_defs[] = {
	{"consent", REL_CONSENT_EVENT, "subject",
		"SELECT pg_catalog.count(*) FROM personalize.consent c"
		" WHERE NOT EXISTS (SELECT FROM personalize.consent_event e"
		"                    WHERE e.event_id OPERATOR(pg_catalog.=) c.event_id)",
	"%lld current consents have no entry in the consent history: the history is incomplete"},
	{"access", REL_ACCESS_EVENT, NULL,
		"SELECT pg_catalog.count(*) FROM personalize.access_grant g"
		" WHERE NOT EXISTS (SELECT FROM personalize.access_event e"
		"                    WHERE e.grant_id OPERATOR(pg_catalog.=) g.grant_id"
		"                      AND e.action OPERATOR(pg_catalog.=) 'grant')",
	"%lld access grants have no entry in the access ledger: the ledger is incomplete"},
	{"custody", REL_CUSTODY_EVENT, NULL, NULL, NULL},
	{"purge", REL_PURGE_EVENT, NULL, NULL, NULL},
};

/* the chain's columns, kept out of the hashed content */
#define COL_CHAIN_SEQ	"chain_seq"
#define COL_PREV_HASH	"prev_hash"
#define COL_ENTRY_HASH	"entry_hash"

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

/* ---------------------------------------------------------------------
 * Hash chains
 * ---------------------------------------------------------------------
 */

bool
CustodyLogExists(void)
{
	return OidIsValid(get_relname_relid(REL_CUSTODY_EVENT, PersonalizeSchemaOid()));
}

static const LedgerDef *
ledger_def(const char *name)
{
	for (int i = 0; i < (int) lengthof(ledger_defs); i++)
		if (strcmp(ledger_defs[i].name, name) == 0)
			return &ledger_defs[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ledger \"%s\" does not exist", name),
			 errhint("The ledgers are consent, access, custody and purge.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * The hasher a ledger's entries need: with the key for the ledger that
 * names subjects, without one (and without reading it) for the others.
 */
static PseudonymHasher *
ledger_hasher(const LedgerDef *def, bool create)
{
	if (def->subject_column != NULL)
		return PseudonymHasherCreate(create);
	return PseudonymHasherWithoutKey();
}

static bool
is_chain_column(const char *attname)
{
	return strcmp(attname, COL_CHAIN_SEQ) == 0 ||
		strcmp(attname, COL_PREV_HASH) == 0 ||
		strcmp(attname, COL_ENTRY_HASH) == 0;
}

/* one column of the canonical content: name NUL, length (4 bytes), bytes */
static void
append_field(StringInfo buf, const char *name, const void *data, uint32 len)
{
	uint32		be = pg_hton32(len);

	appendBinaryStringInfo(buf, name, strlen(name) + 1);
	appendBinaryStringInfo(buf, (const char *) &be, sizeof(be));
	appendBinaryStringInfo(buf, (const char *) data, len);
}

static void
append_int8(StringInfo buf, const char *name, int64 v)
{
	uint64		be = pg_hton64((uint64) v);

	append_field(buf, name, &be, sizeof(be));
}

/*
 * Reads the entries of one ledger: which columns are content (all but the
 * chain's, in column order), each entry's columns deformed once.
 */
typedef struct EntryReader
{
	const LedgerDef *def;
	PseudonymHasher *h;
	TupleDesc	desc;
	int			ncols;
	int		   *cols;			/* content columns, as indexes into desc */
	bool	   *subject;		/* is this the subject column? */
	Datum	   *values;			/* the entry loaded last */
	bool	   *nulls;
	StringInfoData buf;			/* the canonical content built last */
	int			seq_offset;		/* where in buf the position's 8 bytes are */
} EntryReader;

static EntryReader *
entry_reader(const LedgerDef *def, TupleDesc desc, PseudonymHasher *h)
{
	EntryReader *r = palloc0(sizeof(EntryReader));

	r->def = def;
	r->h = h;
	r->desc = desc;
	r->cols = palloc(sizeof(int) * desc->natts);
	r->subject = palloc(sizeof(bool) * desc->natts);
	r->values = palloc(sizeof(Datum) * desc->natts);
	r->nulls = palloc(sizeof(bool) * desc->natts);
	initStringInfo(&r->buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);

		/* (a ctid column comes from _ledger_rechain()'s query, never a table) */
		if (att->attisdropped || is_chain_column(name) || strcmp(name, "ctid") == 0)
			continue;
		r->subject[r->ncols] = def->subject_column != NULL &&
			strcmp(name, def->subject_column) == 0;
		r->cols[r->ncols++] = i;
	}
	return r;
}

static void
entry_load(EntryReader *r, HeapTuple tuple)
{
	heap_deform_tuple(tuple, r->desc, r->values, r->nulls);
}

/*
 * The canonical content of the loaded entry, after the chain's domain, the
 * ledger's name and the entry's position.  Returns false when the entry
 * cannot be hashed: it names a subject and there is no pseudonym key.
 */
static bool
canonical_entry(EntryReader *r, int64 seq)
{
	StringInfo	buf = &r->buf;

	resetStringInfo(buf);
	appendBinaryStringInfo(buf, CHAIN_DOMAIN, strlen(CHAIN_DOMAIN) + 1);
	appendBinaryStringInfo(buf, r->def->name, strlen(r->def->name) + 1);
	append_int8(buf, COL_CHAIN_SEQ, seq);
	r->seq_offset = buf->len - (int) sizeof(uint64);

	for (int c = 0; c < r->ncols; c++)
	{
		int			i = r->cols[c];
		Form_pg_attribute att = TupleDescAttr(r->desc, i);
		const char *name = NameStr(att->attname);
		Datum		value = r->values[i];

		if (r->nulls[i])
			continue;
		switch (att->atttypid)
		{
			case BOOLOID:
				{
					char		b = DatumGetBool(value) ? 1 : 0;

					append_field(buf, name, &b, 1);
					break;
				}
			case CHAROID:
				{
					char		ch = DatumGetChar(value);

					append_field(buf, name, &ch, 1);
					break;
				}
			case INT2OID:
				append_int8(buf, name, DatumGetInt16(value));
				break;
			case INT4OID:
				append_int8(buf, name, DatumGetInt32(value));
				break;
			case INT8OID:
			case TIMESTAMPTZOID:
			case TIMESTAMPOID:
				append_int8(buf, name, DatumGetInt64(value));
				break;
			case OIDOID:
			case REGCLASSOID:
			case REGROLEOID:
			case REGPROCOID:
				append_int8(buf, name, (int64) DatumGetObjectId(value));
				break;
			case FLOAT8OID:
				{
					float8		f = DatumGetFloat8(value);
					int64		bits;

					memcpy(&bits, &f, sizeof(bits));
					append_int8(buf, name, bits);
					break;
				}
			case NAMEOID:
				{
					const char *n = NameStr(*DatumGetName(value));

					append_field(buf, name, n, strlen(n));
					break;
				}
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
			case BYTEAOID:
				{
					struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
					const char *data = VARDATA_ANY(v);
					int			len = VARSIZE_ANY_EXHDR(v);
					int			plen = strlen(PSEUDONYM_PREFIX);

					if (r->subject[c] &&
						!(len >= plen && memcmp(data, PSEUDONYM_PREFIX, plen) == 0))
					{
						char		pseudonym[PSEUDONYM_LEN + 1];

						if (!PseudonymHasherHasKey(r->h))
							return false;
						PseudonymHex(r->h, data, len, pseudonym);
						append_field(buf, name, pseudonym, PSEUDONYM_LEN);
					}
					else
						append_field(buf, name, data, len);
					if ((Pointer) v != DatumGetPointer(value))
						pfree(v);
					break;
				}
			default:
				{
					/* arrays and jsonb: their text form depends on no setting */
					Oid			typoutput;
					bool		varlena;
					char	   *str;

					getTypeOutputInfo(att->atttypid, &typoutput, &varlena);
					str = OidOutputFunctionCall(typoutput, value);
					append_field(buf, name, str, strlen(str));
					pfree(str);
					break;
				}
		}
	}
	return true;
}

/*
 * Put another position into the content built last: the chain trigger
 * builds the content (and hashes the subject's pseudonym) before it takes
 * the ledger's lock, and learns the position only under it.
 */
static void
entry_set_seq(EntryReader *r, int64 seq)
{
	uint64		be = pg_hton64((uint64) seq);

	memcpy(r->buf.data + r->seq_offset, &be, sizeof(be));
}

/* the hash of the loaded entry at position seq after prev */
static bool
entry_hash(EntryReader *r, int64 seq, const uint8 *prev, uint8 *out)
{
	if (!canonical_entry(r, seq))
		return false;
	Sha256Two(prev, SHA256_LEN, r->buf.data, r->buf.len, out);
	return true;
}

typedef struct ChainCols
{
	AttrNumber	seq;
	AttrNumber	prev;
	AttrNumber	hash;
} ChainCols;

static void
chain_cols(TupleDesc desc, const char *relname, ChainCols *cols)
{
	cols->seq = cols->prev = cols->hash = InvalidAttrNumber;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), COL_CHAIN_SEQ) == 0 && att->atttypid == INT8OID)
			cols->seq = att->attnum;
		else if (strcmp(NameStr(att->attname), COL_PREV_HASH) == 0 && att->atttypid == BYTEAOID)
			cols->prev = att->attnum;
		else if (strcmp(NameStr(att->attname), COL_ENTRY_HASH) == 0 && att->atttypid == BYTEAOID)
			cols->hash = att->attnum;
	}
	if (cols->seq == InvalidAttrNumber || cols->prev == InvalidAttrNumber ||
		cols->hash == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger table \"%s\" has no hash chain", relname),
				 errdetail("It needs the columns chain_seq bigint, prev_hash bytea and entry_hash bytea."),
				 errhint("Run ALTER EXTENSION personalize UPDATE.")));
}

/* a 32-byte hash column; false if null or not 32 bytes long */
static bool
hash_value(HeapTuple tuple, TupleDesc desc, AttrNumber attnum, uint8 *out)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != SHA256_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), SHA256_LEN);
	return true;
}

/* a 32-byte hash column of the loaded entry; false if null or not 32 bytes */
static bool
loaded_hash(EntryReader *r, AttrNumber attnum, uint8 *out)
{
	bytea	   *b;

	if (r->nulls[attnum - 1])
		return false;
	b = DatumGetByteaPP(r->values[attnum - 1]);
	if (VARSIZE_ANY_EXHDR(b) != SHA256_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), SHA256_LEN);
	return true;
}

/*
 * The ledger's chain index, found from the ledger itself and not by name:
 * a valid, unique btree index on chain_seq alone, whole (no predicate, no
 * expression).  Whatever else carries the name cannot lead a walk of the
 * chain past entries.
 */
static Oid
chain_index(Relation rel, const ChainCols *cols)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisunique && idx->indisvalid && idx->indisready &&
			idx->indnatts == 1 && idx->indkey.values[0] == cols->seq &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
			RelationAccessMethod(indexoid) == BTREE_AM_OID)
			found = indexoid;
		ReleaseSysCache(tup);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	if (!OidIsValid(found))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger table \"%s\" has no index on its chain", RelationGetRelationName(rel)),
				 errdetail("The chain is read through a whole, unique btree index on chain_seq alone."),
				 errhint("Create it again: CREATE UNIQUE INDEX ON %s (chain_seq).",
						 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													RelationGetRelationName(rel)))));
	return found;
}

/*
 * The last entry of a chain as snapshot sees it: its position (0 for an
 * empty chain) and hash (zeros when there is none).
 */
static int64
chain_head(Relation rel, const ChainCols *cols,
		   Snapshot snapshot, uint8 *head)
{
	Relation	idx = index_open(chain_index(rel, cols), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		seq = 0;

	memset(head, 0, SHA256_LEN);
	scan = systable_beginscan_ordered(rel, idx, snapshot, 0, NULL);
	while ((tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, cols->seq, desc, &isnull);

		/* nulls sort last: an entry outside the chain (verify reports it) */
		if (isnull)
			continue;
		seq = DatumGetInt64(d);
		(void) hash_value(tuple, desc, cols->hash, head);
		break;
	}
	systable_endscan_ordered(scan);
	index_close(idx, AccessShareLock);
	return seq;
}

/*
 * The ledger's append lock, held until the transaction ends, so that the
 * next writer reads a head that is committed (or sees our entry rolled
 * back).  An object lock in the extension's own namespace, as SubjectLock.
 */
static void
lock_chain(Relation rel)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, PersonalizeExtensionOid(),
					   RelationGetRelid(rel), 1);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * BEFORE INSERT trigger on a ledger (argument: the ledger's name): the
 * entry's position, the previous entry's hash and its own.  A superuser's
 * restore (pg_dump output) keeps the values it brings: verify_ledgers()
 * checks them as any others.
 */
Datum
personalize_ledger_chain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const LedgerDef *def;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	ChainCols	cols;
	PseudonymHasher *h;
	EntryReader *r;
	uint8		prev[SHA256_LEN];
	uint8		hash[SHA256_LEN];
	int64		seq;
	int			colnos[3];
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bytea	   *prev_b;
	bytea	   *hash_b;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1)
		elog(ERROR, "personalize_ledger_chain: not called as a BEFORE INSERT row trigger with one argument");
	def = ledger_def(trigdata->tg_trigger->tgargs[0]);
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;
	chain_cols(desc, RelationGetRelationName(rel), &cols);

	/*
	 * An entry that brings its place in the chain keeps it when a superuser
	 * restores a dump, or a logical replication subscription applies the
	 * publisher's entry (session_replication_role = replica, which only a
	 * superuser sets): verify_ledgers() checks it as any other.
	 */
	if ((PersonalizeTrustedRestore() ||
		 SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA) &&
		!heap_attisnull(tuple, cols.seq, desc) &&
		!heap_attisnull(tuple, cols.prev, desc) &&
		!heap_attisnull(tuple, cols.hash, desc))
		return PointerGetDatum(tuple);

	/*
	 * A ledger that a subscription fills from the publisher is written
	 * there: an entry written here would take the place in the chain the
	 * publisher's next entry needs, and stop the subscription.
	 */
	if (RelationIsSubscribed(RelationGetRelid(rel)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write to ledger \"%s\" of a logical replication subscriber",
						RelationGetRelationName(rel)),
				 errdetail("A subscription fills this ledger from the publisher; an entry written here would take the place in the chain that the publisher's next entry needs."),
				 errhint("Make the change on the publisher; this database follows it.")));

	/*
	 * The content first, the pseudonym included: the less work under the
	 * lock, the less the next writer waits.
	 */
	h = ledger_hasher(def, true);
	r = entry_reader(def, desc, h);
	entry_load(r, tuple);
	if (!canonical_entry(r, 0))
		elog(ERROR, "could not read the pseudonym key");
	PseudonymHasherFree(h);

	lock_chain(rel);
	/* committed entries and our own, even those of this very statement */
	seq = chain_head(rel, &cols, SnapshotSelf, prev) + 1;
	entry_set_seq(r, seq);
	Sha256Two(prev, SHA256_LEN, r->buf.data, r->buf.len, hash);

	prev_b = palloc(VARHDRSZ + SHA256_LEN);
	SET_VARSIZE(prev_b, VARHDRSZ + SHA256_LEN);
	memcpy(VARDATA(prev_b), prev, SHA256_LEN);
	hash_b = palloc(VARHDRSZ + SHA256_LEN);
	SET_VARSIZE(hash_b, VARHDRSZ + SHA256_LEN);
	memcpy(VARDATA(hash_b), hash, SHA256_LEN);
	colnos[0] = cols.seq;
	values[0] = Int64GetDatum(seq);
	colnos[1] = cols.prev;
	values[1] = PointerGetDatum(prev_b);
	colnos[2] = cols.hash;
	values[2] = PointerGetDatum(hash_b);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 3, colnos, values, nulls));
}

static text *
hash_hex(const uint8 *hash)
{
	char		str[2 * SHA256_LEN + 1];

	hex_encode((const char *) hash, SHA256_LEN, str);
	str[2 * SHA256_LEN] = '\0';
	return cstring_to_text(str);
}

/*
 * _verify_ledger(ledger text, digest_entries bigint, digest_head bytea,
 *		OUT entries bigint, OUT head text, OUT intact boolean,
 *		OUT broken_at bigint, OUT problem text)
 *
 * Walk one chain in order, as the statement's snapshot sees it, and report
 * the first broken link: a missing or repeated position, an entry that does
 * not name the hash of the one before it, an entry whose content does not
 * give its hash, or an entry outside the chain.  With a digest (entries and
 * head from ledger_digest()), the entry at that position must still carry
 * that head.
 */
Datum
personalize_verify_ledger(PG_FUNCTION_ARGS)
{
	const LedgerDef *def;
	bool		have_digest;
	int64		digest_entries = 0;
	uint8		digest_head[SHA256_LEN];
	TupleDesc	resdesc;
	Relation	rel;
	Relation	idx;
	TupleDesc	desc;
	ChainCols	cols;
	SysScanDesc scan;
	HeapTuple	tuple;
	PseudonymHasher *h;
	EntryReader *r;
	uint8		prev[SHA256_LEN];
	uint8		stored[SHA256_LEN];
	uint8		computed[SHA256_LEN];
	uint8		at_digest[SHA256_LEN];
	bool		seen_digest = false;
	int64		expected = 1;
	int64		last = 0;
	int64		outside = 0;
	int64		broken_at = 0;
	char	   *problem = NULL;
	Datum		result[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ledger must not be null")));
	def = ledger_def(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	have_digest = !PG_ARGISNULL(1);
	if (have_digest)
	{
		digest_entries = PG_GETARG_INT64(1);
		memset(digest_head, 0, SHA256_LEN);
		if (!PG_ARGISNULL(2))
		{
			bytea	   *b = PG_GETARG_BYTEA_PP(2);

			if (VARSIZE_ANY_EXHDR(b) != SHA256_LEN)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a ledger's head must be %d bytes long", SHA256_LEN)));
			memcpy(digest_head, VARDATA_ANY(b), SHA256_LEN);
		}
	}
	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rel = table_open(PersonalizeRelid(def->relname), AccessShareLock);
	desc = RelationGetDescr(rel);
	chain_cols(desc, RelationGetRelationName(rel), &cols);
	idx = index_open(chain_index(rel, &cols), AccessShareLock);
	h = ledger_hasher(def, false);
	r = entry_reader(def, desc, h);
	memset(prev, 0, SHA256_LEN);

	scan = systable_beginscan_ordered(rel, idx, GetActiveSnapshot(), 0, NULL);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		int64		seq;
		uint8		link[SHA256_LEN];

		CHECK_FOR_INTERRUPTS();
		entry_load(r, tuple);
		if (r->nulls[cols.seq - 1])
		{
			/* nulls come last: rows written with the trigger switched off */
			if (outside++ == 0 && problem == NULL)
			{
				broken_at = expected;
				problem = psprintf("an entry after entry " INT64_FORMAT " is outside the chain: it has no position", last);
			}
			continue;
		}
		seq = DatumGetInt64(r->values[cols.seq - 1]);
		if (!loaded_hash(r, cols.hash, stored))
			memset(stored, 0, SHA256_LEN);
		if (have_digest && seq == digest_entries && !seen_digest)
		{
			memcpy(at_digest, stored, SHA256_LEN);
			seen_digest = true;
		}
		if (problem == NULL)
		{
			if (seq < expected)
			{
				broken_at = seq;
				problem = psprintf("entry " INT64_FORMAT " appears more than once", seq);
			}
			else if (seq > expected)
			{
				broken_at = expected;
				if (seq == expected + 1)
					problem = psprintf("entry " INT64_FORMAT " is missing", expected);
				else
					problem = psprintf("entries " INT64_FORMAT " to " INT64_FORMAT " are missing",
									   expected, seq - 1);
			}
			else if (!loaded_hash(r, cols.prev, link) ||
					 memcmp(link, prev, SHA256_LEN) != 0)
			{
				broken_at = seq;
				problem = seq == 1 ?
					psprintf("entry 1 does not start the chain: its previous hash is not zero") :
					psprintf("entry " INT64_FORMAT " does not link to entry " INT64_FORMAT ": its previous hash differs",
							 seq, seq - 1);
			}
			else if (!entry_hash(r, seq, prev, computed))
			{
				broken_at = seq;
				problem = RelationIsSubscribed(RelationGetRelid(rel)) ?
					psprintf("entry " INT64_FORMAT " cannot be checked on a logical replication subscriber: the pseudonym key stays with the publisher, where the chain verifies", seq) :
					psprintf("entry " INT64_FORMAT " cannot be checked: the pseudonym key is missing", seq);
			}
			else if (memcmp(computed, stored, SHA256_LEN) != 0)
			{
				broken_at = seq;
				problem = psprintf("entry " INT64_FORMAT " was altered: its content does not match its hash", seq);
			}
		}
		memcpy(prev, stored, SHA256_LEN);
		expected = Max(expected, seq + 1);
		last = Max(last, seq);
	}
	systable_endscan_ordered(scan);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	PseudonymHasherFree(h);

	if (problem == NULL && have_digest && digest_entries > 0)
	{
		if (digest_entries > last)
		{
			broken_at = last + 1;
			problem = psprintf("the chain ends at entry " INT64_FORMAT ", but the digest names entry " INT64_FORMAT ": entries were removed from its end",
							   last, digest_entries);
		}
		else if (!seen_digest || memcmp(at_digest, digest_head, SHA256_LEN) != 0)
		{
			broken_at = digest_entries;
			problem = psprintf("entry " INT64_FORMAT " differs from the digest: the chain was rewritten up to there",
							   digest_entries);
		}
	}

	/*
	 * A chain intact in itself can still be missing entries the state it
	 * records needs (a restore that lost them, or entries never written):
	 * then it is not the whole record.
	 */
	if (problem == NULL && def->state_check != NULL)
	{
		bool		isnull;
		int64		missing = DatumGetInt64(ExtValue(def->state_check, 0, NULL, NULL, NULL,
													 true, &isnull));

		if (missing > 0)
		{
			broken_at = 0;
			problem = psprintf(def->state_problem, (long long) missing);
		}
	}

	result[0] = Int64GetDatum(last);
	if (last > 0)
		result[1] = PointerGetDatum(hash_hex(prev));
	else
		nulls[1] = true;
	result[2] = BoolGetDatum(problem == NULL);
	result[3] = Int64GetDatum(broken_at);
	nulls[3] = problem == NULL || broken_at == 0;
	if (problem)
		result[4] = CStringGetTextDatum(problem);
	else
		nulls[4] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, nulls)));
}

/*
 * _ledger_head(ledger text, OUT entries bigint, OUT head text): the chain's
 * length and last hash, as the statement's snapshot sees them.
 */
Datum
personalize_ledger_head(PG_FUNCTION_ARGS)
{
	const LedgerDef *def;
	TupleDesc	resdesc;
	Relation	rel;
	ChainCols	cols;
	uint8		head[SHA256_LEN];
	int64		seq;
	Datum		result[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ledger must not be null")));
	def = ledger_def(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rel = table_open(PersonalizeRelid(def->relname), AccessShareLock);
	chain_cols(RelationGetDescr(rel), RelationGetRelationName(rel), &cols);
	seq = chain_head(rel, &cols, GetActiveSnapshot(), head);
	table_close(rel, AccessShareLock);
	result[0] = Int64GetDatum(seq);
	if (seq > 0)
		result[1] = PointerGetDatum(hash_hex(head));
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(resdesc, result, nulls)));
}

typedef struct Rechain
{
	const LedgerDef *def;
	PseudonymHasher *h;
	EntryReader *reader;		/* made for the query's first row */
	uint8		prev[SHA256_LEN];
	int64		seq;
	List	   *ctids;			/* ItemPointer, in chain order */
	List	   *hashes;			/* bytea */
	List	   *prevs;			/* bytea */
} Rechain;

static bytea *
hash_bytea(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + SHA256_LEN);

	SET_VARSIZE(b, VARHDRSZ + SHA256_LEN);
	memcpy(VARDATA(b), hash, SHA256_LEN);
	return b;
}

static void
rechain_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Rechain    *rc = (Rechain *) arg;
	uint8		hash[SHA256_LEN];
	bool		isnull;
	ItemPointer tid = palloc(sizeof(ItemPointerData));

	/* the first column is the row's ctid, the rest the ledger's columns */
	*tid = *((ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 1, &isnull)));
	rc->seq++;
	if (rc->reader == NULL)
		rc->reader = entry_reader(rc->def, desc, rc->h);
	entry_load(rc->reader, tuple);
	if (!entry_hash(rc->reader, rc->seq, rc->prev, hash))
		elog(ERROR, "could not read the pseudonym key");
	rc->ctids = lappend(rc->ctids, tid);
	rc->prevs = lappend(rc->prevs, hash_bytea(rc->prev));
	rc->hashes = lappend(rc->hashes, hash_bytea(hash));
	memcpy(rc->prev, hash, SHA256_LEN);
}

/*
 * _ledger_rechain(ledger text, order_by name): chain the entries a ledger
 * held before it was chained (ALTER EXTENSION UPDATE from 0.1.0), in the
 * order of the named column.  Only an extension script may call it.
 */
Datum
personalize_ledger_rechain(PG_FUNCTION_ARGS)
{
	Rechain		rc;
	Name		order_by;
	int			n;
	Datum	   *tids;
	Datum	   *prevs;
	Datum	   *hashes;
	Datum		values[3];
	Oid			argtypes[3] = {TIDARRAYOID, BYTEAARRAYOID, BYTEAARRAYOID};
	int			i = 0;
	ListCell   *a,
			   *b,
			   *c;

	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s may only be called by an extension script", "_ledger_rechain()")));
	memset(&rc, 0, sizeof(rc));
	rc.def = ledger_def(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	order_by = PG_GETARG_NAME(1);
	rc.h = ledger_hasher(rc.def, true);
	(void) ExtExecute(psprintf("SELECT t.ctid, t.* FROM personalize.%s t ORDER BY t.%s",
							   quote_identifier(rc.def->relname),
							   quote_identifier(NameStr(*order_by))),
					  0, NULL, NULL, NULL, true, rechain_row, &rc);
	n = list_length(rc.ctids);
	if (n == 0)
		PG_RETURN_INT64(0);
	tids = palloc(sizeof(Datum) * n);
	prevs = palloc(sizeof(Datum) * n);
	hashes = palloc(sizeof(Datum) * n);
	forthree(a, rc.ctids, b, rc.prevs, c, rc.hashes)
	{
		tids[i] = PointerGetDatum(lfirst(a));
		prevs[i] = PointerGetDatum(lfirst(b));
		hashes[i] = PointerGetDatum(lfirst(c));
		i++;
	}
	values[0] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
												false, TYPALIGN_SHORT));
	values[1] = PointerGetDatum(construct_array(prevs, n, BYTEAOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(hashes, n, BYTEAOID, -1, false, TYPALIGN_INT));
	LedgerBeginErasure();
	PG_TRY();
	{
		(void) ExtExecute(psprintf("UPDATE personalize.%s t"
								   "   SET chain_seq = u.seq, prev_hash = u.prev, entry_hash = u.hash"
								   "  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
								   "                  pg_catalog.unnest($3)) WITH ORDINALITY AS u(tid, prev, hash, seq)"
								   " WHERE t.ctid OPERATOR(pg_catalog.=) u.tid",
								   quote_identifier(rc.def->relname)),
						  3, argtypes, values, NULL, false, NULL, NULL);
	}
	PG_FINALLY();
	{
		LedgerEndErasure();
	}
	PG_END_TRY();
	PseudonymHasherFree(rc.h);
	PG_RETURN_INT64((int64) n);
}

/* ---------------------------------------------------------------------
 * Dropping the extension
 * ---------------------------------------------------------------------
 */

/* GUC: may a DROP that takes the extension destroy ledgers with entries? */
static bool drop_ledgers = false;

void
LedgersInit(void)
{
	DefineCustomBoolVariable("personalize.drop_ledgers",
							 gettext_noop("Lets DROP EXTENSION personalize destroy ledgers that hold entries."),
							 gettext_noop("Off, a DROP that would take the extension is refused while the consent history, the access ledger, the custody log or the purge ledger hold entries."),
							 &drop_ledgers,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/* does the statement drop the extension, or the schema or role it lives by? */
static bool
drops_extension(Node *parsetree)
{
	ListCell   *lc;

	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;
		const char *name;

		if (stmt->removeType == OBJECT_EXTENSION)
			name = "personalize";
		else if (stmt->removeType == OBJECT_SCHEMA)
			name = get_namespace_name(PersonalizeSchemaOid());
		else
			return false;
		foreach(lc, stmt->objects)
			if (IsA(lfirst(lc), String) && strcmp(strVal(lfirst(lc)), name) == 0)
				return true;
		return false;
	}
	if (IsA(parsetree, DropOwnedStmt))
	{
		Oid			owner = PersonalizeExtensionOwner();

		foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
			if (get_rolespec_oid((RoleSpec *) lfirst(lc), true) == owner)
				return true;
	}
	return false;
}

/*
 * _drop_guard(): the ddl_command_start event trigger of DROP EXTENSION,
 * DROP SCHEMA, DROP OWNED and ALTER SCHEMA (which may not rename the
 * extension's schema).  A statement that would drop the extension
 * is refused while its ledgers hold entries, unless the session says
 * personalize.drop_ledgers = on: the ledgers are the proof of what each
 * customer agreed to, and nothing else keeps them.
 */
Datum
personalize_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	int64		entries = 0;
	StringInfoData held;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_drop_guard() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;

	/*
	 * ALTER SCHEMA personalize RENAME: the extension is not relocatable,
	 * and its functions, triggers and worker name its schema.
	 */
	if (IsA(trigdata->parsetree, RenameStmt) &&
		((RenameStmt *) trigdata->parsetree)->renameType == OBJECT_SCHEMA)
	{
		const char *old_name = ((RenameStmt *) trigdata->parsetree)->subname;

		if (old_name != NULL && strcmp(old_name, get_namespace_name(PersonalizeSchemaOid())) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot rename schema \"%s\"", old_name),
					 errdetail("It is the schema of the extension personalize, which is not relocatable: the extension's functions, triggers and background worker name it.")));
		PG_RETURN_VOID();
	}
	if (!drops_extension(trigdata->parsetree))
		PG_RETURN_VOID();
	if (drop_ledgers)
	{
		CopiesDropDistributed();
		PG_RETURN_VOID();
	}

	initStringInfo(&held);
	for (int i = 0; i < (int) lengthof(ledger_defs); i++)
	{
		bool		isnull;
		int64		n;

		if (!OidIsValid(PersonalizeRelidIfExists(ledger_defs[i].relname)))
			continue;
		n = DatumGetInt64(ExtValue(psprintf("SELECT pg_catalog.count(*) FROM personalize.%s",
											quote_identifier(ledger_defs[i].relname)),
								   0, NULL, NULL, NULL, true, &isnull));
		if (n > 0)
			appendStringInfo(&held, "%s%s " INT64_FORMAT,
							 held.len > 0 ? ", " : "", ledger_defs[i].name, n);
		entries += n;
	}
	if (entries > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop extension personalize while its ledgers hold entries"),
				 errdetail("Dropping it destroys the consent history and the other ledgers, the proof of what each customer agreed to (entries: %s).",
						   held.data),
				 errhint("Keep them first (pg_dump --schema=personalize, and the digest of SELECT personalize.ledger_digest()); then run SET personalize.drop_ledgers = on and the DROP again in the same session.")));
	/* on Citus, nothing left behind on the nodes */
	CopiesDropDistributed();
	PG_RETURN_VOID();
}
