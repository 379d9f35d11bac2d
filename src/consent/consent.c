/*-------------------------------------------------------------------------
 *
 * consent.c
 *	  has_consent() and may_process(): is a subject's data usable for a
 *	  purpose, right now?
 *
 * The answer is read from personalize.consent (one row per subject and
 * purpose, in state g(ranted), w(ithdrawn) or e(xpired)) for the purpose and its
 * ancestors, least permissive first.  has_consent():
 *
 *	- an explicit withdrawal of the purpose or of any ancestor means no;
 *	- otherwise an unexpired grant of the purpose or of any ancestor means yes;
 *	- otherwise no.
 *
 * may_process() answers the same for a purpose whose lawful basis is
 * consent.  For a purpose on another lawful basis (contract, legal
 * obligation ...) no grant is needed: a withdrawal of the purpose or of an
 * ancestor (for such a purpose, the subject's objection) means no, anything
 * else yes.
 *
 * Freshness.  Every answer is read through the calling statement's snapshot
 * (the active snapshot), so has_consent() sees exactly what a semi-join
 * against the consent table in the same statement would see: in READ
 * COMMITTED, a withdrawal committed before a statement starts binds that
 * statement, in every session.  Expiry is judged against the statement's
 * start time.  Nothing is cached across snapshots, so there is nothing to
 * invalidate: a cache shared across statements would need the relcache
 * invalidation that a committing writer sends, and a writer sends it only
 * after its commit is visible, which leaves a window in which a new
 * statement could see the commit and still use the old cache.
 *
 * Speed.  Each call site (FmgrInfo) keeps, per purpose, a hash table keyed
 * by subject.  The first lookups of a statement probe the consent table's
 * primary key and remember the answer; once a statement has probed more
 * subjects than a bulk load would cost, the call site reads every consent
 * row of the purpose's chain in one heap scan and answers the rest of the
 * statement from memory (bounded by personalize.consent_cache_mem).  A view
 * over millions of rows thus costs one scan of the consent table plus a hash
 * lookup per row; a point lookup costs one index probe.
 *
 * Subject keys are text, but bigint and uuid keys have their own entry
 * points and hash tables: the text "42" and the bigint 42 are the same
 * subject, found without converting per row.  Text keys in the canonical
 * output form of bigint or uuid are filed under those tables, so every
 * entry point agrees.
 *
 * Scale-out note: all reads of the consent and purpose tables are in
 * ConsentProbe(), ConsentBulkLoad() and PurposeChainLoad() below; a port to
 * a distributed setup adapts those three.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/consent/consent.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "base/citus.h"
#include "base/extension.h"
#include "base/kept.h"
#include "base/relations.h"
#include "base/subject_key.h"
#include "consent/consent.h"

PG_FUNCTION_INFO_V1(personalize_has_consent_text);
PG_FUNCTION_INFO_V1(personalize_has_consent_int8);
PG_FUNCTION_INFO_V1(personalize_has_consent_uuid);
PG_FUNCTION_INFO_V1(personalize_may_process_text);
PG_FUNCTION_INFO_V1(personalize_may_process_int8);
PG_FUNCTION_INFO_V1(personalize_may_process_uuid);

/* GUC: memory one call site may use for a bulk-loaded purpose, in kB */
static int	consent_cache_mem = 256 * 1024;

/*
 * Subtransactions this backend has aborted, and transactions it ended; see
 * ConsentSite.  A call site that outlives a transaction (a simple
 * expression in a procedure that commits) rebuilds its state in the next.
 */
static uint64 state_epoch = 0;

/*
 * Where the consent and purpose tables are (base/relations.c): looked up
 * once per backend, and again when one of them may have changed (ALTER,
 * DROP EXTENSION ...).  Only OIDs and attribute numbers; no data is cached.
 */
typedef struct ConsentCatalog
{
	bool		valid;
	uint64		epoch;			/* PersonalizeRelationsEpoch() it was read at */
	Oid			consent_relid;
	Oid			consent_pkey;
	Oid			purpose_relid;
	Oid			purpose_pkey;
	Oid			purpose_name_key;
	AttrNumber	att_subject;
	AttrNumber	att_purpose;
	AttrNumber	att_state;
	AttrNumber	att_expires;
	AttrNumber	att_purpose_id;
	AttrNumber	att_parent_id;
	AttrNumber	att_name;
	AttrNumber	att_lawful_basis;	/* InvalidAttrNumber before 0.2.0 */
	bool		citus_copies;	/* a Citus worker's shards of the copies */
	Oid			grant_copy_relid;	/* there, the shard of access_grant_replica */
} ConsentCatalog;

static ConsentCatalog catalog;

/* consent flags of one subject for one purpose chain */
#define CONSENT_GRANTED		0x01	/* an unexpired grant in the chain */
#define CONSENT_WITHDRAWN	0x02	/* a withdrawal in the chain */
#define CONSENT_YES(flags)	(((flags) & (CONSENT_GRANTED | CONSENT_WITHDRAWN)) == CONSENT_GRANTED)

/* distinct purposes one call site keeps state for at a time */
#define MAX_PURPOSES_PER_SITE 8
/* probes before a bulk load is considered, whatever the table size */
#define MIN_PROBES_BEFORE_BULK 256
/* estimated bytes per bulk-loaded subject beyond its key */
#define BULK_ENTRY_OVERHEAD 40

/* ---------- hash tables keyed by subject (lib/simplehash.h) ---------- */

typedef struct SubjectKey
{
	const char *data;
	uint32		len;
} SubjectKey;

typedef struct TextEntry
{
	SubjectKey	key;
	uint32		hash;
	uint8		flags;
	char		status;
} TextEntry;

typedef struct Int8Entry
{
	int64		key;
	uint8		flags;
	char		status;
} Int8Entry;

typedef struct UuidEntry
{
	pg_uuid_t	key;
	uint8		flags;
	char		status;
} UuidEntry;

static inline uint32
mix64(uint64 k)
{
	/* the splitmix64 finalizer: every input bit affects every output bit */
	k ^= k >> 30;
	k *= UINT64CONST(0xbf58476d1ce4e5b9);
	k ^= k >> 27;
	k *= UINT64CONST(0x94d049bb133111eb);
	k ^= k >> 31;
	return (uint32) k;
}

static inline uint32
uuid_hash32(const pg_uuid_t *u)
{
	uint64		a;
	uint64		b;

	memcpy(&a, u->data, 8);
	memcpy(&b, u->data + 8, 8);
	return mix64(a ^ (b * UINT64CONST(0x9e3779b97f4a7c15)));
}

#define SH_PREFIX texttab
#define SH_ELEMENT_TYPE TextEntry
#define SH_KEY_TYPE SubjectKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k).data, (k).len)
#define SH_EQUAL(tb, a, b) ((a).len == (b).len && memcmp((a).data, (b).data, (a).len) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX int8tab
#define SH_ELEMENT_TYPE Int8Entry
#define SH_KEY_TYPE int64
#define SH_KEY key
#define SH_HASH_KEY(tb, k) mix64((uint64) (k))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define SH_PREFIX uuidtab
#define SH_ELEMENT_TYPE UuidEntry
#define SH_KEY_TYPE pg_uuid_t
#define SH_KEY key
#define SH_HASH_KEY(tb, k) uuid_hash32(&(k))
#define SH_EQUAL(tb, a, b) (memcmp((a).data, (b).data, UUID_LEN) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* ---------- per call site state ---------- */

/* what has_consent knows about one purpose within one snapshot */
struct PurposeState
{
	MemoryContext cxt;			/* the name and the chain */
	MemoryContext data_cxt;		/* hash tables and key copies */
	char	   *name;			/* purpose name, as passed */
	int			namelen;
	int			nchain;			/* the purpose and its ancestors */
	int32		chain[MAX_PURPOSE_DEPTH];

	/*
	 * Subjects by key form.  Before a bulk load: the subjects probed so far,
	 * with their flags.  After: only the consenting subjects of the chain,
	 * and the bigint keys in a bitmap instead when they are dense.
	 */
	texttab_hash *texts;
	int8tab_hash *ints;
	uuidtab_hash *uuids;
	uint64	   *bitmap;			/* bit k - bitmap_min set: k consents */
	int64		bitmap_min;
	uint64		bitmap_bits;
	/*
	 * How flags become an answer: false, has_consent()'s rule; true (a
	 * may_process() call for a purpose whose lawful basis is not consent),
	 * yes unless withdrawn.
	 */
	bool		objection_only;
	/*
	 * After a bulk load the tables hold only the subjects whose answer is
	 * not the default: the consenting ones, or (objection_only) the ones
	 * who objected.
	 */
	bool		bulk;			/* the tables are complete for the chain */
	bool		bulk_refused;	/* the chain is too big for consent_cache_mem */
	TimestampTz bulk_until;		/* the first grant of the load that expires */
	int64		nprobes;
};

struct ConsentSite
{
	MemoryContext cxt;			/* everything below; reset per snapshot */
	/*
	 * What the state's answers depend on: the snapshot's contents, the
	 * statement's start time (expiry), and this backend's count of aborted
	 * subtransactions (an abort hides our own writes without changing the
	 * snapshot) and ended transactions (state_epoch).  Two snapshots with equal xmin, xmax, running-xid lists,
	 * overflow flag and command id see the same rows.
	 */
	bool		valid;
	TransactionId xmin;
	TransactionId xmax;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	bool		recovery;
	CommandId	curcid;
	TimestampTz stmt_start;
	uint64		state_epoch;
	TransactionId *xip;			/* copies of the snapshot's xid arrays */
	TransactionId *subxip;
	uint32		xip_space;		/* allocated entries of each array */
	int32		subxip_space;
	Snapshot	snapshot;
	/*
	 * The relations, copied once per snapshot: the backend-wide copy can be
	 * invalidated in the middle of a statement.
	 */
	ConsentCatalog rel;
	double		consent_rows;	/* estimated rows in the consent table, or -1 */
	bool		may_process;	/* a may_process() call site */
	bool		purpose_stable; /* the purpose argument is a Const or Param */
	PurposeState *stable_purpose;	/* its state, when it is */
	int			npurposes;
	int			next_evict;
	PurposeState purposes[MAX_PURPOSES_PER_SITE];

	/*
	 * A caller's state, in cxt: has_access() keeps the current role's
	 * grants on the table here (privilege/has_access.c).  NULL after a
	 * reset.
	 */
	void	   *extra;
};

/* the answer for a subject with these flags (see PurposeState) */
static inline bool
flags_answer(const PurposeState *ps, uint8 flags)
{
	if (ps->objection_only)
		return (flags & CONSENT_WITHDRAWN) == 0;
	return CONSENT_YES(flags);
}

/* does a bulk load keep a subject with these flags (its answer is not the default)? */
static inline bool
flags_member(const PurposeState *ps, uint8 flags)
{
	return flags_answer(ps, flags) != ps->objection_only;
}

/* the answer for a subject that is (or is not) in the bulk-loaded tables */
static inline bool
member_answer(const PurposeState *ps, bool member)
{
	return member != ps->objection_only;
}

/*
 * Count ended transactions: state built in one is not reused in the next,
 * however alike the snapshots (kept objections a state adopted are freed
 * with the transaction).
 */
static void
consent_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		state_epoch++;
}

/*
 * Count aborted subtransactions: rows a subtransaction wrote were visible to
 * our own snapshots and no longer are, though no snapshot field changed.
 */
static void
consent_subxact_callback(SubXactEvent event,
						 SubTransactionId mySubid pg_attribute_unused(),
						 SubTransactionId parentSubid pg_attribute_unused(),
						 void *arg pg_attribute_unused())
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		state_epoch++;
}

/*
 * Look up the tables has_consent() reads, unless still known.
 */
static const ConsentCatalog *
consent_catalog(void)
{
	ConsentCatalog c;
	const char *what = "a consent check";
	uint64		epoch = PersonalizeRelationsEpoch();

	if (catalog.valid && catalog.epoch == epoch)
		return &catalog;

	/*
	 * On a Citus worker a filter over a distributed table runs here, on the
	 * shards: the node's shards of the copies distribute() keeps, which the
	 * coordinator writes in the same distributed transaction as consent and
	 * purpose (sql/src/base-citus.sql).  Same keys, same column names.
	 */
	c.citus_copies = PersonalizeReadsCopies();
	c.consent_relid = PersonalizeReadRelid(REL_CONSENT, what);
	c.consent_pkey = PersonalizeReadRelid(IDX_CONSENT_PKEY, what);
	c.purpose_relid = PersonalizeReadRelid(REL_PURPOSE, what);
	c.purpose_pkey = PersonalizeReadRelid(IDX_PURPOSE_PKEY, what);
	c.purpose_name_key = PersonalizeReadRelid(IDX_PURPOSE_NAME_KEY, what);
	c.grant_copy_relid = c.citus_copies ?
		PersonalizeReadRelid(REL_ACCESS_GRANT, what) : InvalidOid;
	c.att_subject = PersonalizeAttnum(c.consent_relid, "subject");
	c.att_purpose = PersonalizeAttnum(c.consent_relid, "purpose_id");
	c.att_state = PersonalizeAttnum(c.consent_relid, "state");
	c.att_expires = PersonalizeAttnum(c.consent_relid, "expires_at");
	c.att_purpose_id = PersonalizeAttnum(c.purpose_relid, "purpose_id");
	c.att_parent_id = PersonalizeAttnum(c.purpose_relid, "parent_id");
	c.att_name = PersonalizeAttnum(c.purpose_relid, "name");
	/* a database not yet updated to 0.2.0 has no lawful bases */
	c.att_lawful_basis = get_attnum(c.purpose_relid, "lawful_basis");
	c.valid = true;
	c.epoch = epoch;
	catalog = c;
	return &catalog;
}

/*
 * Define the module's GUCs and register its callbacks.
 */
void
ConsentInit(void)
{
	RegisterXactCallback(consent_xact_callback, NULL);
	RegisterSubXactCallback(consent_subxact_callback, NULL);

	DefineCustomIntVariable("personalize.consent_cache_mem",
							gettext_noop("Memory a has_consent() call site may use to hold the consent of every subject of a purpose during one statement."),
							gettext_noop("Statements that check consent for many subjects switch from one index probe per subject to one scan of the consent table when the result fits; 0 disables the switch."),
							&consent_cache_mem,
							256 * 1024,
							0,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Create the hash tables of a purpose state.
 */
static void
purpose_tables_create(PurposeState *ps, uint32 size)
{
	MemoryContextReset(ps->data_cxt);
	ps->texts = texttab_create(ps->data_cxt, size, NULL);
	ps->ints = int8tab_create(ps->data_cxt, size, NULL);
	ps->uuids = uuidtab_create(ps->data_cxt, 16, NULL);
}

/*
 * Combine flags into the entry for a subject given as text, copying the
 * key on first insertion.  The text is filed under the bigint or uuid table
 * when it is in that type's canonical form.
 */
static void
remember_text(PurposeState *ps, const char *s, int len, uint8 flags)
{
	int64		i8;
	pg_uuid_t	u;
	bool		found;

	if (SubjectKeyInt8(s, len, &i8))
	{
		Int8Entry  *e = int8tab_insert(ps->ints, i8, &found);

		e->flags = (found ? e->flags : 0) | flags;
	}
	else if (SubjectKeyUuid(s, len, &u))
	{
		UuidEntry  *e = uuidtab_insert(ps->uuids, u, &found);

		e->flags = (found ? e->flags : 0) | flags;
	}
	else
	{
		SubjectKey	key = {s, (uint32) len};
		TextEntry  *e = texttab_insert(ps->texts, key, &found);

		if (!found)
		{
			char	   *copy = MemoryContextAlloc(ps->data_cxt, len + 1);

			memcpy(copy, s, len);
			copy[len] = '\0';
			e->key.data = copy;
			e->flags = 0;
		}
		e->flags |= flags;
	}
}

/*
 * Flags of one consent row (state g, w or e), judged at the statement's
 * start time.
 */
static inline uint8
row_flags(char state, bool expires_null, Datum expires, TimestampTz now)
{
	if (state == 'g')
	{
		if (expires_null || DatumGetTimestampTz(expires) > now)
			return CONSENT_GRANTED;
		return 0;				/* expired, not yet marked */
	}
	if (state == 'w')
		return CONSENT_WITHDRAWN;
	return 0;					/* 'e': expired */
}

/* index of purpose_id in the chain, or -1 */
static inline int
chain_position(const PurposeState *ps, int32 purpose_id)
{
	for (int i = 0; i < ps->nchain; i++)
		if (ps->chain[i] == purpose_id)
			return i;
	return -1;
}

/*
 * Purposes and their chains as read lately, kept between statements
 * (KeptReadState(), base/kept.c): the purpose table changes rarely, and
 * reading it in every statement would cost a point select more than the
 * consent probe itself.  Only from 0.2.0 on, whose install script puts the
 * trigger on purpose that this needs (its purpose table has lawful_basis).
 */
typedef struct KeptPurpose
{
	char	   *name;			/* in TopMemoryContext; NULL: free */
	Oid			purpose_relid;	/* of the extension it was read from */
	int			namelen;
	int			nchain;
	int32		chain[MAX_PURPOSE_DEPTH];
	bool		not_consent;	/* its lawful basis is not consent */
	KeptRead	read;
} KeptPurpose;

#define KEPT_PURPOSES 16

static KeptPurpose kept_purposes[KEPT_PURPOSES];
static int	kept_purposes_next = 0;

static KeptPurpose *
kept_purpose_find(const PurposeState *ps, Oid purpose_relid)
{
	for (int i = 0; i < KEPT_PURPOSES; i++)
	{
		KeptPurpose *k = &kept_purposes[i];

		if (k->name == NULL || k->purpose_relid != purpose_relid)
			continue;
		if (ps->name != NULL ? (k->namelen == ps->namelen &&
								memcmp(k->name, ps->name, ps->namelen) == 0)
			: k->chain[0] == ps->chain[0])
			return k;
	}
	return NULL;
}

static void
kept_purpose_store(const PurposeState *ps, Oid purpose_relid, bool not_consent,
				   const KeptRead *read)
{
	KeptPurpose *k = kept_purpose_find(ps, purpose_relid);

	if (k == NULL)
	{
		k = &kept_purposes[kept_purposes_next];
		kept_purposes_next = (kept_purposes_next + 1) % KEPT_PURPOSES;
	}
	if (k->name != NULL)
		pfree(k->name);
	k->name = NULL;
	k->name = MemoryContextAlloc(TopMemoryContext, ps->namelen + 1);
	memcpy(k->name, ps->name, ps->namelen);
	k->name[ps->namelen] = '\0';
	k->namelen = ps->namelen;
	k->purpose_relid = purpose_relid;
	k->nchain = ps->nchain;
	memcpy(k->chain, ps->chain, sizeof(int32) * ps->nchain);
	k->not_consent = not_consent;
	k->read = *read;
}

/*
 * Look up a purpose by name (or, when ps->name is NULL, by ps->chain[0])
 * and follow its parents, filling ps->chain; the name is filled in when
 * looked up by id.
 */
static void
PurposeChainLoad(ConsentSite *site, PurposeState *ps)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	AttrNumber	att_id;
	AttrNumber	att_parent;
	bool		isnull;
	Datum		parent;
	text	   *name = NULL;
	bool		not_consent = false;
	KeptRead	read;
	bool		keep;

	keep = site->rel.att_lawful_basis != InvalidAttrNumber &&
		KeptReadState(site->snapshot, &read);
	if (keep)
	{
		KeptPurpose *k = kept_purpose_find(ps, site->rel.purpose_relid);

		if (k != NULL && KeptReadSame(&k->read, &read))
		{
			if (ps->name == NULL)
			{
				ps->name = MemoryContextStrdup(ps->cxt, k->name);
				ps->namelen = k->namelen;
			}
			ps->nchain = k->nchain;
			memcpy(ps->chain, k->chain, sizeof(int32) * k->nchain);
			ps->objection_only = site->may_process && k->not_consent;
			return;
		}
	}

	rel = table_open(site->rel.purpose_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	att_id = site->rel.att_purpose_id;
	att_parent = site->rel.att_parent_id;

	if (ps->name != NULL)
	{
		name = cstring_to_text_with_len(ps->name, ps->namelen);
		ScanKeyInit(&key, site->rel.att_name,
					BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(name));
		key.sk_collation = DEFAULT_COLLATION_OID;
		scan = systable_beginscan(rel, site->rel.purpose_name_key, true,
								  site->snapshot, 1, &key);
	}
	else
	{
		ScanKeyInit(&key, att_id, BTEqualStrategyNumber, F_INT4EQ,
					Int32GetDatum(ps->chain[0]));
		scan = systable_beginscan(rel, site->rel.purpose_pkey, true,
								  site->snapshot, 1, &key);
	}
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
	{
		if (ps->name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("an access grant names a purpose that does not exist"),
					 errdetail("The grant names purpose number %d, which this database's purposes do not hold.",
							   ps->chain[0]),
					 errhint("If this database subscribes to another's access grants, publish personalize.purpose with them.")));
		PurposeUnknownError(ps->name);
	}
	if (ps->name == NULL)
	{
		ps->name = MemoryContextStrdup(ps->cxt,
									   TextDatumGetCString(heap_getattr(tup, site->rel.att_name,
																		desc, &isnull)));
		ps->namelen = strlen(ps->name);
	}
	ps->chain[0] = DatumGetInt32(heap_getattr(tup, att_id, desc, &isnull));
	if (site->rel.att_lawful_basis != InvalidAttrNumber)
	{
		Datum		basis = heap_getattr(tup, site->rel.att_lawful_basis, desc, &isnull);

		not_consent = !isnull &&
			strcmp(TextDatumGetCString(basis), LAWFUL_BASIS_CONSENT) != 0;
		ps->objection_only = site->may_process && not_consent;
	}
	parent = heap_getattr(tup, att_parent, desc, &isnull);
	ps->nchain = 1;
	systable_endscan(scan);

	while (!isnull)
	{
		if (ps->nchain >= MAX_PURPOSE_DEPTH)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("purpose \"%s\" is nested more than %d levels deep",
							ps->name, MAX_PURPOSE_DEPTH),
					 errhint("Flatten the hierarchy: define_purpose() refuses purposes this deep.")));
		ScanKeyInit(&key, att_id, BTEqualStrategyNumber, F_INT4EQ, parent);
		scan = systable_beginscan(rel, site->rel.purpose_pkey, true,
								  site->snapshot, 1, &key);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("parent of purpose \"%s\" does not exist", ps->name),
					 errdetail("The purpose names parent %d, which this transaction has deleted or not created yet.",
							   DatumGetInt32(parent)),
					 errhint("Create the parent purpose first, or set the purpose's parent to an existing one.")));
		ps->chain[ps->nchain++] = DatumGetInt32(parent);
		parent = heap_getattr(tup, att_parent, desc, &isnull);
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
	if (name)
		pfree(name);
	if (keep)
		kept_purpose_store(ps, site->rel.purpose_relid, not_consent, &read);
}

/*
 * Read the consent rows of one subject (any purpose) through the primary
 * key and return its flags for the purpose chain.
 */
static uint8
ConsentProbe(ConsentSite *site, PurposeState *ps, const char *s, int len)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	TupleDesc	desc;
	uint8		flags = 0;
	text	   *subject = cstring_to_text_with_len(s, len);

	rel = table_open(site->rel.consent_relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	ScanKeyInit(&key, site->rel.att_subject, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(subject));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(rel, site->rel.consent_pkey, true,
							  site->snapshot, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		bool		exp_null;
		Datum		purpose = heap_getattr(tup, site->rel.att_purpose, desc, &isnull);
		Datum		state;
		Datum		expires;

		if (chain_position(ps, DatumGetInt32(purpose)) < 0)
			continue;
		state = heap_getattr(tup, site->rel.att_state, desc, &isnull);
		expires = heap_getattr(tup, site->rel.att_expires, desc, &exp_null);
		flags |= row_flags(DatumGetChar(state), exp_null, expires, site->stmt_start);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	pfree(subject);
	return flags;
}

/*
 * A growable array of bigint keys, for the bitmap.
 */
typedef struct Int8Array
{
	int64	   *keys;
	uint64		n;
	uint64		cap;
} Int8Array;

static void
int8array_add(Int8Array *a, int64 key)
{
	if (a->n == a->cap)
	{
		a->cap = Max(1024, a->cap * 2);
		a->keys = a->keys ? repalloc_huge(a->keys, a->cap * sizeof(int64))
			: MemoryContextAllocHuge(CurrentMemoryContext, a->cap * sizeof(int64));
	}
	a->keys[a->n++] = key;
}

/*
 * File the key of a subject the bulk load keeps (see PurposeState); a
 * bigint key goes into the array that becomes a bitmap or a hash set once
 * every row has been read.
 */
static void
bulk_add_member(PurposeState *ps, Int8Array *ints, const char *s, int len)
{
	int64		i8;
	pg_uuid_t	u;
	bool		found;

	if (SubjectKeyInt8(s, len, &i8))
		int8array_add(ints, i8);
	else if (SubjectKeyUuid(s, len, &u))
		(void) uuidtab_insert(ps->uuids, u, &found);
	else
	{
		SubjectKey	key = {s, (uint32) len};
		TextEntry  *e = texttab_insert(ps->texts, key, &found);

		if (!found)
		{
			char	   *copy = MemoryContextAlloc(ps->data_cxt, len);

			memcpy(copy, s, len);
			e->key.data = copy;
		}
	}
}

/*
 * Turn the kept bigint keys into a bitmap when they are dense (at
 * most 128 bits per key: customer numbers usually are), else a hash set.
 */
static void
bulk_finish_ints(PurposeState *ps, Int8Array *ints)
{
	int64		min = PG_INT64_MAX;
	int64		max = PG_INT64_MIN;
	bool		found;

	for (uint64 i = 0; i < ints->n; i++)
	{
		min = Min(min, ints->keys[i]);
		max = Max(max, ints->keys[i]);
	}
	if (ints->n > 0 &&
		(uint64) max - (uint64) min < ints->n * 128 &&
		(uint64) max - (uint64) min < (uint64) 1 << 40)
	{
		uint64		nbits = (uint64) max - (uint64) min + 1;

		ps->bitmap = MemoryContextAllocHuge(ps->data_cxt,
											((nbits + 63) / 64) * sizeof(uint64));
		memset(ps->bitmap, 0, ((nbits + 63) / 64) * sizeof(uint64));
		for (uint64 i = 0; i < ints->n; i++)
		{
			uint64		bit = (uint64) ints->keys[i] - (uint64) min;

			ps->bitmap[bit / 64] |= UINT64CONST(1) << (bit % 64);
		}
		ps->bitmap_min = min;
		ps->bitmap_bits = nbits;
	}
	else
	{
		ps->ints = int8tab_create(ps->data_cxt, (uint32) Min(ints->n + 16, PG_UINT32_MAX / 4), NULL);
		for (uint64 i = 0; i < ints->n; i++)
			(void) int8tab_insert(ps->ints, ints->keys[i], &found);
	}
}

/*
 * Read every consent row of the purpose chain with one heap scan and keep
 * the subjects whose answer is not the default: the consenting ones, or
 * for an objection-only purpose the ones who objected.  After this, a
 * subject missing from the tables gets the default answer.
 */
static void
ConsentBulkLoad(ConsentSite *site, PurposeState *ps)
{
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	natts;
	AttrNumber	filter_natts;
	uint64		nrows = 0;
	MemoryContext tmp;
	MemoryContext old;
	Int8Array	ints = {NULL, 0, 0};
	PurposeState flags;			/* per-subject flags, for chains */

	/* the result goes to fresh tables; the scratch to a context of its own */
	MemoryContextReset(ps->data_cxt);
	ps->bulk_until = DT_NOEND;
	ps->texts = texttab_create(ps->data_cxt, 64, NULL);
	ps->ints = int8tab_create(ps->data_cxt, 16, NULL);
	ps->uuids = uuidtab_create(ps->data_cxt, 16, NULL);
	tmp = AllocSetContextCreate(CurrentMemoryContext, "personalize consent load",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);

	/*
	 * A purpose with ancestors can have several rows per subject, which are
	 * combined in flag tables first; a purpose without has one row per
	 * subject (the primary key), decided as it is read.
	 */
	memset(&flags, 0, sizeof(flags));
	if (ps->nchain > 1)
	{
		flags.data_cxt = tmp;
		flags.nchain = ps->nchain;
		memcpy(flags.chain, ps->chain, sizeof(ps->chain));
		flags.texts = texttab_create(tmp, 1024, NULL);
		flags.ints = int8tab_create(tmp, (uint32) Min(site->consent_rows + 16, PG_UINT32_MAX / 4), NULL);
		flags.uuids = uuidtab_create(tmp, 16, NULL);
	}

	rel = table_open(site->rel.consent_relid, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, site->snapshot, 0, NULL);
	/* the filter columns come first in the table: deform them alone */
	filter_natts = Max(site->rel.att_purpose, site->rel.att_state);
	natts = Max(Max(site->rel.att_subject, site->rel.att_purpose),
				Max(site->rel.att_state, site->rel.att_expires));

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		Datum		subject;
		text	   *t;
		uint8		f;

		if ((++nrows & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, filter_natts);
		if (chain_position(ps, DatumGetInt32(slot->tts_values[site->rel.att_purpose - 1])) < 0)
			continue;
		/*
		 * Without ancestors one row decides: only grants matter for
		 * consent, only withdrawals for an objection-only purpose.
		 */
		if (ps->nchain == 1 &&
			DatumGetChar(slot->tts_values[site->rel.att_state - 1]) !=
			(ps->objection_only ? 'w' : 'g'))
			continue;
		slot_getsomeattrs(slot, natts);
		f = row_flags(DatumGetChar(slot->tts_values[site->rel.att_state - 1]),
					  slot->tts_isnull[site->rel.att_expires - 1],
					  slot->tts_values[site->rel.att_expires - 1],
					  site->stmt_start);
		/* the answers hold until the first of the grants expires */
		if ((f & CONSENT_GRANTED) && !slot->tts_isnull[site->rel.att_expires - 1] &&
			DatumGetTimestampTz(slot->tts_values[site->rel.att_expires - 1]) < ps->bulk_until)
			ps->bulk_until = DatumGetTimestampTz(slot->tts_values[site->rel.att_expires - 1]);
		if (f == 0 || (ps->nchain == 1 && !flags_member(ps, f)))
			continue;
		subject = slot->tts_values[site->rel.att_subject - 1];
		t = DatumGetTextPP(subject);
		if (ps->nchain == 1)
			bulk_add_member(ps, &ints, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		else
			remember_text(&flags, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), f);
		if ((Pointer) t != DatumGetPointer(subject))
			pfree(t);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);

	if (ps->nchain > 1)
	{
		texttab_iterator ti;
		int8tab_iterator ii;
		uuidtab_iterator ui;
		TextEntry  *te;
		Int8Entry  *ie;
		UuidEntry  *ue;
		bool		found;

		texttab_start_iterate(flags.texts, &ti);
		while ((te = texttab_iterate(flags.texts, &ti)) != NULL)
			if (flags_member(ps, te->flags))
				bulk_add_member(ps, &ints, te->key.data, te->key.len);
		int8tab_start_iterate(flags.ints, &ii);
		while ((ie = int8tab_iterate(flags.ints, &ii)) != NULL)
			if (flags_member(ps, ie->flags))
				int8array_add(&ints, ie->key);
		uuidtab_start_iterate(flags.uuids, &ui);
		while ((ue = uuidtab_iterate(flags.uuids, &ui)) != NULL)
			if (flags_member(ps, ue->flags))
				(void) uuidtab_insert(ps->uuids, ue->key, &found);
	}
	MemoryContextSwitchTo(ps->data_cxt);
	bulk_finish_ints(ps, &ints);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	ps->bulk = true;
	elog(DEBUG1, "personalize: bulk-loaded %s for purpose \"%s\": " UINT64_FORMAT " rows read, %s",
		 ps->objection_only ? "objections" : "consent",
		 ps->name, nrows, ps->bitmap ? "bigint keys in a bitmap" : "bigint keys in a hash table");
}

/*
 * Does the state belong to this snapshot and statement?  Compares the
 * snapshot's contents, not its address: a new statement's snapshot may be
 * allocated where the last one was.
 */
static inline bool
site_matches(const ConsentSite *site, Snapshot snap, TimestampTz stmt_start)
{
	return site->valid &&
		snap->xmin == site->xmin && snap->xmax == site->xmax &&
		snap->curcid == site->curcid &&
		snap->xcnt == site->xcnt && snap->subxcnt == site->subxcnt &&
		snap->suboverflowed == site->suboverflowed &&
		snap->takenDuringRecovery == site->recovery &&
		stmt_start == site->stmt_start &&
		state_epoch == site->state_epoch &&
		(snap->xcnt == 0 ||
		 memcmp(snap->xip, site->xip, snap->xcnt * sizeof(TransactionId)) == 0) &&
		(snap->subxcnt <= 0 ||
		 memcmp(snap->subxip, site->subxip, snap->subxcnt * sizeof(TransactionId)) == 0);
}

/*
 * Remember the identity of a snapshot (see site_matches).  The xid arrays
 * live in the call site's long-lived context, grown as needed.
 */
static void
site_remember_snapshot(ConsentSite *site, MemoryContext cxt, Snapshot snap,
					   TimestampTz stmt_start)
{
	site->xmin = snap->xmin;
	site->xmax = snap->xmax;
	site->xcnt = snap->xcnt;
	site->subxcnt = snap->subxcnt;
	site->suboverflowed = snap->suboverflowed;
	site->recovery = snap->takenDuringRecovery;
	site->curcid = snap->curcid;
	site->stmt_start = stmt_start;
	site->state_epoch = state_epoch;
	if (snap->xcnt > site->xip_space)
	{
		if (site->xip)
			pfree(site->xip);
		site->xip_space = Max(snap->xcnt, 16);
		site->xip = MemoryContextAlloc(cxt, site->xip_space * sizeof(TransactionId));
	}
	if (snap->xcnt > 0)
		memcpy(site->xip, snap->xip, snap->xcnt * sizeof(TransactionId));
	if (snap->subxcnt > site->subxip_space)
	{
		if (site->subxip)
			pfree(site->subxip);
		site->subxip_space = Max(snap->subxcnt, 16);
		site->subxip = MemoryContextAlloc(cxt, site->subxip_space * sizeof(TransactionId));
	}
	if (snap->subxcnt > 0)
		memcpy(site->subxip, snap->subxip, snap->subxcnt * sizeof(TransactionId));
}

/*
 * On a Citus worker, or on a coordinator that holds shards and runs a
 * shard's statement over a connection of Citus's own (local execution
 * off): stop a statement that cannot see a consent change its own
 * distributed transaction made.  The coordinator writes the node's
 * copies over a connection of the role that runs the trigger (the
 * extension's owner); a statement of another role runs over another
 * connection, and so may one of the same role when Citus opens more than
 * one connection to the node for its tasks: in another local transaction,
 * which does not see the uncommitted change.  Rarely needed (only while a
 * writer of the copies runs), so asked of Citus's and PostgreSQL's views
 * then.
 */
static void
citus_refuse_unseen_consent(ConsentSite *site)
{
	Oid			relids[3];

	if (!KeptWriterRunning(site->snapshot))
		return;
	relids[0] = site->rel.consent_relid;
	relids[1] = site->rel.purpose_relid;
	/* on the coordinator, the tables themselves, written by the initiator */
	relids[2] = site->rel.citus_copies ? site->rel.grant_copy_relid :
		PersonalizeRelidIfExists(REL_ACCESS_GRANT);
	if (PersonalizeCitusPeerWrote(relids, 3))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a consent or access check on a Citus shard cannot see a change of its own transaction"),
				 errdetail("The change to consent, purposes or access grants was written over another connection of this transaction, which this statement's connection to the shard does not see until the transaction commits."),
				 errhint("Commit the change before filtering distributed tables with it.")));
}

/*
 * Drop the state of every purpose (the snapshot changed) and look up the
 * relations again.
 */
static void
site_reset(ConsentSite *site, MemoryContext fn_mcxt, Snapshot snap,
		   TimestampTz stmt_start)
{
	MemoryContextReset(site->cxt);
	site->npurposes = 0;
	site->next_evict = 0;
	site->stable_purpose = NULL;
	site->extra = NULL;
	site->snapshot = snap;
	site_remember_snapshot(site, fn_mcxt, snap, stmt_start);

	site->rel = *consent_catalog();
	site->consent_rows = -1;	/* looked up when a bulk load is considered */
	if (site->rel.citus_copies || PersonalizeCitusInternalBackend())
		citus_refuse_unseen_consent(site);
	site->valid = true;
}

/*
 * The call site's state, reset whenever the statement's snapshot, its start
 * time or our own aborted subtransactions differ from what the state was
 * built under.
 */
static ConsentSite *
get_site(FunctionCallInfo fcinfo, bool may_process)
{
	ConsentSite *site = (ConsentSite *) fcinfo->flinfo->fn_extra;
	Snapshot	snap;
	TimestampTz stmt_start = GetCurrentStatementStartTimestamp();

	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	if (likely(site != NULL) && site_matches(site, snap, stmt_start))
	{
		site->snapshot = snap;
		return site;
	}

	if (site == NULL)
	{
		site = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ConsentSite));
		site->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
										  "personalize has_consent",
										  ALLOCSET_DEFAULT_SIZES);
		site->purpose_stable = get_fn_expr_arg_stable(fcinfo->flinfo, 1);
		site->may_process = may_process;
		fcinfo->flinfo->fn_extra = site;
	}

	site_reset(site, fcinfo->flinfo->fn_mcxt, snap, stmt_start);
	return site;
}

/*
 * The objections of a purpose chain whose lawful basis is not consent,
 * kept between statements (KeptReadState(), base/kept.c; the consent table
 * has the trigger too).  may_process() and has_access() on such a purpose
 * need only the few subjects who objected; once a statement has loaded
 * them all (a bulk load), the next statements that see the same consent
 * table answer from memory instead of probing the table for each subject:
 * a point select then costs no index probe.  The set stays valid while no
 * transaction writes consent; after a write the statements probe again,
 * and reload once they have probed as much as a load costs (the rule of
 * maybe_bulk_load(), counted across statements).  A replaced set is freed
 * at the end of the transaction, since a statement of it may still read
 * it.  Not in parallel workers, which exit with their query.
 *
 * On a Citus worker node the consenting subjects of every chain are kept
 * too: a filter over a distributed table runs as one statement per shard,
 * and each would otherwise load the node's whole copy of consent again.
 * Such a set also holds only for statements that start before the first
 * of its grants expires (bulk_until), and not before it was loaded.
 */
typedef struct KeptObjections
{
	Oid			consent_relid;	/* InvalidOid: free */
	bool		objection_only; /* the objectors, or the consenting */
	int			nchain;
	int32		chain[MAX_PURPOSE_DEPTH];
	MemoryContext cxt;			/* the tables, or NULL: none kept */
	texttab_hash *texts;
	int8tab_hash *ints;
	uuidtab_hash *uuids;
	uint64	   *bitmap;
	int64		bitmap_min;
	uint64		bitmap_bits;
	KeptRead	read;
	TimestampTz loaded_at;		/* the statement start it was judged at */
	TimestampTz until;			/* PurposeState.bulk_until */
	int64		probes;			/* since the set was last kept */
} KeptObjections;

#define KEPT_OBJECTION_SETS 4

static KeptObjections kept_objections[KEPT_OBJECTION_SETS];
static int	kept_objections_next = 0;

/* are the chain's loaded subjects kept between statements? */
static inline bool
kept_eligible(const PurposeState *ps)
{
	return (ps->objection_only || PersonalizeOnCitusWorker()) && !IsParallelWorker();
}

static KeptObjections *
kept_objections_find(ConsentSite *site, const PurposeState *ps, bool add)
{
	KeptObjections *k;

	for (int i = 0; i < KEPT_OBJECTION_SETS; i++)
	{
		k = &kept_objections[i];
		if (k->consent_relid == site->rel.consent_relid &&
			k->objection_only == ps->objection_only && k->nchain == ps->nchain &&
			memcmp(k->chain, ps->chain, sizeof(int32) * ps->nchain) == 0)
			return k;
	}
	if (!add)
		return NULL;
	k = &kept_objections[kept_objections_next];
	kept_objections_next = (kept_objections_next + 1) % KEPT_OBJECTION_SETS;
	if (k->cxt != NULL)
		MemoryContextSetParent(k->cxt, TopTransactionContext);
	memset(k, 0, sizeof(KeptObjections));
	k->consent_relid = site->rel.consent_relid;
	k->objection_only = ps->objection_only;
	k->nchain = ps->nchain;
	memcpy(k->chain, ps->chain, sizeof(int32) * ps->nchain);
	return k;
}

/* answer from the kept objections, when the snapshot sees the same table */
static bool
kept_objections_adopt(ConsentSite *site, PurposeState *ps)
{
	KeptObjections *k;
	KeptRead	read;

	if (!kept_eligible(ps))
		return false;
	k = kept_objections_find(site, ps, false);
	if (k == NULL || k->cxt == NULL ||
		site->stmt_start < k->loaded_at || site->stmt_start >= k->until ||
		!KeptReadState(site->snapshot, &read) || !KeptReadSame(&k->read, &read))
		return false;
	ps->texts = k->texts;
	ps->ints = k->ints;
	ps->uuids = k->uuids;
	ps->bitmap = k->bitmap;
	ps->bitmap_min = k->bitmap_min;
	ps->bitmap_bits = k->bitmap_bits;
	ps->bulk_until = k->until;
	ps->bulk = true;
	return true;
}

/* probes made across statements since the chain's objections were kept */
static int64
kept_objections_probes(ConsentSite *site, const PurposeState *ps)
{
	KeptObjections *k;

	if (!kept_eligible(ps))
		return 0;
	k = kept_objections_find(site, ps, false);
	return k ? k->probes : 0;
}

static void
kept_objections_count_probe(ConsentSite *site, const PurposeState *ps)
{
	if (kept_eligible(ps))
		kept_objections_find(site, ps, true)->probes++;
}

/*
 * After a bulk load of a chain kept_eligible(): keep its tables (their
 * context moves out of the statement's), unless the snapshot forbids.
 */
static void
kept_objections_keep(ConsentSite *site, PurposeState *ps)
{
	KeptObjections *k;
	KeptRead	read;

	if (!kept_eligible(ps) || !KeptReadState(site->snapshot, &read))
		return;
	k = kept_objections_find(site, ps, true);
	if (k->cxt != NULL)
		MemoryContextSetParent(k->cxt, TopTransactionContext);
	MemoryContextSetParent(ps->data_cxt, TopMemoryContext);
	k->cxt = ps->data_cxt;
	k->texts = ps->texts;
	k->ints = ps->ints;
	k->uuids = ps->uuids;
	k->bitmap = ps->bitmap;
	k->bitmap_min = ps->bitmap_min;
	k->bitmap_bits = ps->bitmap_bits;
	k->read = read;
	k->loaded_at = site->stmt_start;
	k->until = ps->bulk_until;
	k->probes = 0;
	/* the statement keeps reading the tables; its own context is new */
	ps->data_cxt = AllocSetContextCreate(ps->cxt, "personalize consent subjects",
										 ALLOCSET_SMALL_SIZES);
}

/*
 * Look up the chain of a new purpose state (named, or by id in chain[0])
 * and create its tables, or adopt the chain's kept objections.
 */
static void
purpose_state_load(ConsentSite *site, PurposeState *ps)
{
	ps->data_cxt = AllocSetContextCreate(ps->cxt, "personalize consent subjects",
										 ALLOCSET_DEFAULT_SIZES);
	PurposeChainLoad(site, ps);
	if (!kept_objections_adopt(site, ps))
		purpose_tables_create(ps, 64);
}

/*
 * The state for a purpose name, created (and its chain looked up) on first
 * use within the snapshot.
 */
static PurposeState *
get_purpose(ConsentSite *site, Datum purpose_datum)
{
	text	   *purpose;
	const char *name;
	int			len;
	PurposeState *ps;

	/* a Const or Param argument is the same purpose on every call */
	if (site->stable_purpose != NULL)
		return site->stable_purpose;

	purpose = DatumGetTextPP(purpose_datum);
	name = VARDATA_ANY(purpose);
	len = VARSIZE_ANY_EXHDR(purpose);
	for (int i = 0; i < site->npurposes; i++)
	{
		ps = &site->purposes[i];
		if (ps->namelen == len && memcmp(ps->name, name, len) == 0)
			return ps;
	}

	if (site->npurposes < MAX_PURPOSES_PER_SITE)
	{
		ps = &site->purposes[site->npurposes++];
		memset(ps, 0, sizeof(PurposeState));
		ps->cxt = AllocSetContextCreate(site->cxt, "personalize purpose",
										ALLOCSET_SMALL_SIZES);
	}
	else
	{
		/* too many purposes at one call site: recycle one */
		MemoryContext cxt;

		ps = &site->purposes[site->next_evict];
		site->next_evict = (site->next_evict + 1) % MAX_PURPOSES_PER_SITE;
		cxt = ps->cxt;
		MemoryContextReset(cxt);
		memset(ps, 0, sizeof(PurposeState));
		ps->cxt = cxt;
	}
	ps->name = MemoryContextAlloc(ps->cxt, len + 1);
	memcpy(ps->name, name, len);
	ps->name[len] = '\0';
	ps->namelen = len;
	purpose_state_load(site, ps);
	if (site->purpose_stable)
		site->stable_purpose = ps;
	return ps;
}

/*
 * The state for the purpose with this id, outside the site's purposes (a
 * has_access() call site keeps the purposes of its grants apart).
 */
static PurposeState *
purpose_state_for_id(ConsentSite *site, int32 purpose_id)
{
	PurposeState *ps = MemoryContextAllocZero(site->cxt, sizeof(PurposeState));

	ps->cxt = AllocSetContextCreate(site->cxt, "personalize purpose",
									ALLOCSET_SMALL_SIZES);
	ps->chain[0] = purpose_id;
	purpose_state_load(site, ps);
	return ps;
}

/*
 * Switch to bulk mode when this statement has probed enough subjects that
 * one scan of the consent table is cheaper than continuing, and the result
 * fits in consent_cache_mem.  Returns true if the tables are now complete.
 */
static bool
maybe_bulk_load(ConsentSite *site, PurposeState *ps)
{
	double		threshold;
	double		bytes;

	if (ps->bulk)
		return true;
	if (ps->bulk_refused)
		return false;
	if (site->consent_rows < 0)
	{
		/* the size estimate decides when a bulk load pays */
		Relation	rel = table_open(site->rel.consent_relid, AccessShareLock);

		site->consent_rows = rel->rd_rel->reltuples;
		if (site->consent_rows < 0)
			site->consent_rows = (double) RelationGetNumberOfBlocks(rel) * 100;
		table_close(rel, AccessShareLock);
	}
	/*
	 * An index probe costs about as much as reading 64 rows sequentially, so
	 * switching after rows/64 probes costs at most twice the better choice.
	 * Under a parallel plan the planner expects many rows: load at once.
	 */
	threshold = Max(MIN_PROBES_BEFORE_BULK, site->consent_rows / 64);
	if (ps->nprobes + kept_objections_probes(site, ps) < threshold && !IsInParallelMode())
		return false;
	bytes = site->consent_rows * (BULK_ENTRY_OVERHEAD + 16);
	if (bytes > (double) consent_cache_mem * 1024.0)
	{
		ps->bulk_refused = true;
		return false;
	}
	ConsentBulkLoad(site, ps);
	kept_objections_keep(site, ps);
	return true;
}

/*
 * After a bulk load: is the bigint subject among the consenting ones?
 */
static inline bool
bulk_has_int8(const PurposeState *ps, int64 key)
{
	if (ps->bitmap != NULL)
	{
		uint64		bit = (uint64) key - (uint64) ps->bitmap_min;

		return bit < ps->bitmap_bits &&
			(ps->bitmap[bit / 64] & (UINT64CONST(1) << (bit % 64))) != 0;
	}
	return int8tab_lookup(ps->ints, key) != NULL;
}

/*
 * After a bulk load: is the subject given as text among the consenting
 * ones?  Filed by the same rule as bulk_add_member().
 */
static bool
bulk_has_text(const PurposeState *ps, const char *s, int len)
{
	int64		i8;
	pg_uuid_t	u;

	if (SubjectKeyInt8(s, len, &i8))
		return bulk_has_int8(ps, i8);
	if (SubjectKeyUuid(s, len, &u))
		return uuidtab_lookup(ps->uuids, u) != NULL;
	else
	{
		SubjectKey	key = {s, (uint32) len};

		return texttab_lookup(ps->texts, key) != NULL;
	}
}

/*
 * Before a bulk load: the flags remembered for a subject given as text, or
 * NULL if it has not been probed yet.  Filed by the rule of remember_text().
 */
static const uint8 *
memo_lookup_text(PurposeState *ps, const char *s, int len)
{
	int64		i8;
	pg_uuid_t	u;

	if (SubjectKeyInt8(s, len, &i8))
	{
		Int8Entry  *e = int8tab_lookup(ps->ints, i8);

		return e ? &e->flags : NULL;
	}
	if (SubjectKeyUuid(s, len, &u))
	{
		UuidEntry  *e = uuidtab_lookup(ps->uuids, u);

		return e ? &e->flags : NULL;
	}
	else
	{
		SubjectKey	key = {s, (uint32) len};
		TextEntry  *e = texttab_lookup(ps->texts, key);

		return e ? &e->flags : NULL;
	}
}

/*
 * The answer for a subject given as text.  Shared by all entry points: the
 * text is what the consent table stores.
 */
static bool
answer_text(ConsentSite *site, PurposeState *ps, const char *s, int len)
{
	const uint8 *known;
	uint8		flags;

	if (ps->bulk)
		return member_answer(ps, bulk_has_text(ps, s, len));
	known = memo_lookup_text(ps, s, len);
	if (known)
		return flags_answer(ps, *known);
	if (maybe_bulk_load(site, ps))
		return member_answer(ps, bulk_has_text(ps, s, len));

	/* probe, and remember the flags (an entry with none: no rows) */
	flags = ConsentProbe(site, ps, s, len);
	ps->nprobes++;
	kept_objections_count_probe(site, ps);
	remember_text(ps, s, len, flags);
	return flags_answer(ps, flags);
}

/*
 * The answer for a bigint subject: the subject whose text key is its
 * decimal form.
 */
static bool
answer_int8(ConsentSite *site, PurposeState *ps, int64 subject)
{
	Int8Entry  *e;
	char		buf[MAXINT8LEN + 1];
	int			len;

	if (ps->bulk)
		return member_answer(ps, bulk_has_int8(ps, subject));
	e = int8tab_lookup(ps->ints, subject);
	if (e)
		return flags_answer(ps, e->flags);
	len = pg_lltoa(subject, buf);
	return answer_text(site, ps, buf, len);
}

/*
 * The answer for a uuid subject: the subject whose text key is its
 * canonical form.
 */
static bool
answer_uuid(ConsentSite *site, PurposeState *ps, pg_uuid_t *subject)
{
	UuidEntry  *e;
	char	   *str;

	if (ps->bulk)
		return member_answer(ps, uuidtab_lookup(ps->uuids, *subject) != NULL);
	e = uuidtab_lookup(ps->uuids, *subject);
	if (e)
		return flags_answer(ps, e->flags);
	str = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(subject)));
	return answer_text(site, ps, str, strlen(str));
}

/*
 * has_consent(subject text, purpose text)
 */
Datum
personalize_has_consent_text(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	ConsentSite *site = get_site(fcinfo, false);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_text(site, ps, VARDATA_ANY(subject),
							   VARSIZE_ANY_EXHDR(subject)));
}

/*
 * has_consent(subject bigint, purpose text)
 */
Datum
personalize_has_consent_int8(PG_FUNCTION_ARGS)
{
	ConsentSite *site = get_site(fcinfo, false);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_int8(site, ps, PG_GETARG_INT64(0)));
}

/*
 * has_consent(subject uuid, purpose text)
 */
Datum
personalize_has_consent_uuid(PG_FUNCTION_ARGS)
{
	ConsentSite *site = get_site(fcinfo, false);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_uuid(site, ps, PG_GETARG_UUID_P(0)));
}

/*
 * may_process(subject text, purpose text)
 */
Datum
personalize_may_process_text(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	ConsentSite *site = get_site(fcinfo, true);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_text(site, ps, VARDATA_ANY(subject),
							   VARSIZE_ANY_EXHDR(subject)));
}

/*
 * may_process(subject bigint, purpose text)
 */
Datum
personalize_may_process_int8(PG_FUNCTION_ARGS)
{
	ConsentSite *site = get_site(fcinfo, true);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_int8(site, ps, PG_GETARG_INT64(0)));
}

/*
 * may_process(subject uuid, purpose text)
 */
Datum
personalize_may_process_uuid(PG_FUNCTION_ARGS)
{
	ConsentSite *site = get_site(fcinfo, true);
	PurposeState *ps = get_purpose(site, PG_GETARG_DATUM(1));

	PG_RETURN_BOOL(answer_uuid(site, ps, PG_GETARG_UUID_P(0)));
}

/* ---------------------------------------------------------------------
 * For has_access() (privilege/has_access.c), which checks a subject's
 * consent per grant through the same call-site state
 * ---------------------------------------------------------------------
 */

ConsentSite *
ConsentSiteGet(FunctionCallInfo fcinfo, bool may_process)
{
	return get_site(fcinfo, may_process);
}

Snapshot
ConsentSiteSnapshot(const ConsentSite *site)
{
	return site->snapshot;
}

TimestampTz
ConsentSiteStart(const ConsentSite *site)
{
	return site->stmt_start;
}

MemoryContext
ConsentSiteMemory(const ConsentSite *site)
{
	return site->cxt;
}

bool
ConsentSiteReadsCopies(const ConsentSite *site)
{
	return site->rel.citus_copies;
}

void *
ConsentSiteExtra(const ConsentSite *site)
{
	return site->extra;
}

void
ConsentSiteSetExtra(ConsentSite *site, void *extra)
{
	site->extra = extra;
}

PurposeState *
ConsentSitePurpose(ConsentSite *site, int32 purpose_id)
{
	return purpose_state_for_id(site, purpose_id);
}

bool
ConsentAnswerText(ConsentSite *site, PurposeState *ps, const char *s, int len)
{
	return answer_text(site, ps, s, len);
}

bool
ConsentAnswerInt8(ConsentSite *site, PurposeState *ps, int64 subject)
{
	return answer_int8(site, ps, subject);
}

bool
ConsentAnswerUuid(ConsentSite *site, PurposeState *ps, pg_uuid_t *subject)
{
	return answer_uuid(site, ps, subject);
}

/*
 * ConsentCheck -- has_consent(subject, purpose) for C callers.
 *
 * For a C function that must decide once per call whether it may read a
 * subject's data (match.c), outside any has_consent() call site.  The
 * answer is has_consent()'s, read the same way: the purpose chain and one
 * probe of the consent table's primary key, through the active snapshot,
 * expiry judged at the statement's start.  Nothing is kept.
 */
bool
ConsentCheck(const char *subject, int len, const char *purpose)
{
	MemoryContext cxt;
	MemoryContext old;
	ConsentSite *site;
	PurposeState *ps;
	Snapshot	snap;
	bool		result;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "personalize consent check",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	site = palloc0(sizeof(ConsentSite));
	site->cxt = AllocSetContextCreate(cxt, "personalize has_consent",
									  ALLOCSET_SMALL_SIZES);
	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	site_reset(site, cxt, snap, GetCurrentStatementStartTimestamp());
	ps = get_purpose(site, CStringGetTextDatum(purpose));
	result = CONSENT_YES(ConsentProbe(site, ps, subject, len));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return result;
}
