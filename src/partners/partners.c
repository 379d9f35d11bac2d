/*-------------------------------------------------------------------------
 *
 * partners.c
 *	  share(): data for a partner under its agreement, with a custody
 *	  record; and the subject counts of the record of processing.
 *
 * share(partner, source) returns one jsonb per row of a registered table:
 *
 *	- only rows of subjects whose data may be used for one of the partner's
 *	  purposes now (may_process(): consent, or the purpose's lawful basis
 *	  with no objection);
 *	- only columns whose category the agreement covers
 *	  (_partner_column_allowed(): classified columns only, special-category
 *	  data only if a purpose of the partner names it);
 *	- nothing once the agreement has ended or expired.
 *
 * The table is read as its owner, in a restricted security context, so the
 * caller needs EXECUTE on share() and nothing on the table: a partner-export
 * role can hand out what the agreement allows and read nothing else.
 *
 * Every call that returns appends one entry to the custody log
 * (custody_event, a hash-chained ledger): partner, agreement, table,
 * columns and their categories, the partner's purposes, the row count, the
 * SHA-256 of what left, the caller and the time, and the subjects who left
 * as keyed pseudonyms (the forget() key).  The digest is computed over the
 * rows' text form, each followed by a newline, in the order returned, so
 * that the partner can recompute it from what it received.  All rows are
 * read before the first is returned: a caller that stops early is still
 * recorded as having received them all.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/partners/partners.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "base/bypass.h"
#include "base/extension.h"
#include "base/relations.h"
#include "base/pseudonym.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "partners/partners.h"
#include "subjects/subjects.h"

PG_FUNCTION_INFO_V1(personalize_share);
PG_FUNCTION_INFO_V1(personalize_subjects_now);

#define SHA256_LEN 32

typedef struct Partner
{
	bool		found;
	int32		partner_id;
	char	   *agreement;
	char	   *state;			/* active, ended or expired */
	char	   *ended;			/* when it ended or expired, as text */
	Datum		purposes;		/* text[] */
} Partner;

static void
partner_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Partner    *p = (Partner *) arg;
	bool		isnull;

	p->found = true;
	p->partner_id = DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull));
	p->agreement = SPI_getvalue(tuple, desc, 2);
	p->state = SPI_getvalue(tuple, desc, 3);
	p->ended = SPI_getvalue(tuple, desc, 4);
	p->purposes = SPI_getbinval(tuple, desc, 5, &isnull);
	p->purposes = isnull ? (Datum) 0 :
		PointerGetDatum(DatumGetArrayTypePCopy(p->purposes));
}

typedef struct Columns
{
	StringInfoData list;		/* t.a, t.b, ... */
	List	   *names;			/* text Datums */
	List	   *categories;		/* text Datums, distinct */
} Columns;

static void
column_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Columns    *c = (Columns *) arg;
	char	   *name = SPI_getvalue(tuple, desc, 1);
	char	   *category = SPI_getvalue(tuple, desc, 2);
	ListCell   *lc;
	bool		seen = false;

	appendStringInfo(&c->list, "%st.%s", c->names ? ", " : "", quote_identifier(name));
	c->names = lappend(c->names, (void *) DatumGetPointer(CStringGetTextDatum(name)));
	foreach(lc, c->categories)
		if (strcmp(TextDatumGetCString(PointerGetDatum(lfirst(lc))), category) == 0)
			seen = true;
	if (!seen)
		c->categories = lappend(c->categories,
								(void *) DatumGetPointer(CStringGetTextDatum(category)));
}

typedef struct Shared
{
	Tuplestorestate *store;
	TupleDesc	desc;
	PseudonymHasher *hasher;
	pg_cryptohash_ctx *digest;
	int64		rows;
	uint8	   *macs;			/* the subjects' HMACs, PSEUDONYM_MAC_LEN each */
	Size		nmacs;
	Size		maxmacs;
} Shared;

/* one row that leaves: (jsonb, subject as text) */
static void
shared_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Shared	   *s = (Shared *) arg;
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, desc, 1, &isnull);
	Jsonb	   *jb;
	char	   *text;
	char	   *subject;

	CHECK_FOR_INTERRUPTS();
	if (isnull)
		return;
	jb = DatumGetJsonbP(value);
	text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	if (pg_cryptohash_update(s->digest, (const uint8 *) text, strlen(text)) < 0 ||
		pg_cryptohash_update(s->digest, (const uint8 *) "\n", 1) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(s->digest));
	pfree(text);
	tuplestore_putvalues(s->store, s->desc, &value, &isnull);
	s->rows++;

	subject = SPI_getvalue(tuple, desc, 2);
	if (subject != NULL)
	{
		if (s->nmacs == s->maxmacs)
		{
			s->maxmacs *= 2;
			s->macs = repalloc_huge(s->macs, s->maxmacs * PSEUDONYM_MAC_LEN);
		}
		PseudonymMac(s->hasher, subject, strlen(subject),
					 s->macs + s->nmacs * PSEUDONYM_MAC_LEN);
		s->nmacs++;
		pfree(subject);
	}
}

static int
cmp_macs(const void *a, const void *b)
{
	return memcmp(a, b, PSEUDONYM_MAC_LEN);
}

static ArrayType *
text_array(List *datums)
{
	int			n = list_length(datums);
	Datum	   *elems = palloc(sizeof(Datum) * (n + 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, datums)
		elems[i++] = PointerGetDatum(lfirst(lc));
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * share(partner text, source regclass) RETURNS SETOF jsonb
 */
Datum
personalize_share(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *partner;
	Oid			source;
	char	   *relname;
	SubjectTable *t;
	Partner		p;
	Columns		cols;
	Shared		s;
	StringInfoData query;
	uint8		hash[SHA256_LEN];
	char		hex[2 * SHA256_LEN + 1];
	List	   *unique = NIL;
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT8OID, TEXTOID, TEXTARRAYOID, NAMEOID};
	Datum		values[10];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partner and source must not be null")));
	partner = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = PG_GETARG_OID(1);
	relname = get_rel_name(source);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));

	/* the partner and its agreement, as the extension's owner */
	memset(&p, 0, sizeof(p));
	values[0] = CStringGetTextDatum(partner);
	(void) ExtExecute("SELECT x.partner_id, x.agreement,"
					  "       CASE WHEN x.ended_at IS NOT NULL THEN 'ended'"
					  "            WHEN x.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN 'expired'"
					  "            ELSE 'active' END,"
					  "       COALESCE(x.ended_at, x.valid_until)::pg_catalog.text,"
					  "       ARRAY(SELECT pu.name FROM personalize.partner_purpose pp"
					  "               JOIN personalize.purpose pu"
					  "                 ON pu.purpose_id OPERATOR(pg_catalog.=) pp.purpose_id"
					  "              WHERE pp.partner_id OPERATOR(pg_catalog.=) x.partner_id"
					  "              ORDER BY pu.name)"
					  "  FROM personalize.partner x WHERE x.name OPERATOR(pg_catalog.=) $1",
					  1, argtypes, values, NULL, true, partner_row, &p);
	if (!p.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("partner \"%s\" does not exist", partner),
				 errhint("Register it with personalize.register_partner(), naming its agreement.")));
	if (strcmp(p.state, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the agreement with partner \"%s\" has ended", partner),
				 errdetail("Agreement \"%s\" %s at %s; nothing was shared.", p.agreement,
						   strcmp(p.state, "ended") == 0 ? "was ended" : "expired", p.ended),
				 errhint("Register the partner's new agreement with personalize.register_partner() before sharing again.")));

	t = SubjectTableGet(source);
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not registered", relname),
				 errdetail("Only a registered table's rows can be checked for consent before they leave."),
				 errhint("Register it with personalize.register_table(), naming the column that identifies the subject.")));

	/* the columns the agreement covers */
	memset(&cols, 0, sizeof(cols));
	initStringInfo(&cols.list);
	values[0] = Int32GetDatum(p.partner_id);
	values[1] = ObjectIdGetDatum(source);
	argtypes[0] = INT4OID;
	argtypes[1] = OIDOID;
	(void) ExtExecute("SELECT a.attname::pg_catalog.text, l.label"
					  "  FROM pg_catalog.pg_attribute a"
					  "  JOIN pg_catalog.pg_seclabel l"
					  "    ON l.objoid OPERATOR(pg_catalog.=) a.attrelid"
					  "   AND l.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					  "   AND l.objsubid OPERATOR(pg_catalog.=) a.attnum"
					  "   AND l.provider OPERATOR(pg_catalog.=) 'personalize'"
					  " WHERE a.attrelid OPERATOR(pg_catalog.=) $2"
					  "   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped"
					  "   AND personalize._partner_column_allowed($1, l.label)"
					  " ORDER BY a.attnum",
					  2, argtypes, values, NULL, true, column_row, &cols);
	if (cols.names == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the agreement with partner \"%s\" covers no column of table \"%s\"",
						partner, relname),
				 errdetail("A column leaves only when it is classified with a category the agreement names; unclassified columns never leave; nothing was shared."),
				 errhint("Classify the columns the partner needs, or register an agreement that names their categories.")));

	/* the rows, read as the table's owner */
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	memset(&s, 0, sizeof(s));
	s.store = rsinfo->setResult;
	s.desc = rsinfo->setDesc;
	s.hasher = PseudonymHasherCreate(true);
	s.digest = pg_cryptohash_create(PG_SHA256);
	if (s.digest == NULL || pg_cryptohash_init(s.digest) < 0)
		elog(ERROR, "could not start SHA-256");
	s.maxmacs = 1024;
	s.macs = palloc(s.maxmacs * PSEUDONYM_MAC_LEN);
	initStringInfo(&query);
	appendStringInfo(&query,
					 "SELECT pg_catalog.to_jsonb(x), pg_catalog.format('%%s', t.%s)"
					 "  FROM %s t CROSS JOIN LATERAL (SELECT %s) x"
					 " WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest($1) AS p(purpose)"
					 "                WHERE personalize.may_process(%s, p.purpose))",
					 quote_identifier(t->colname), t->qualname, cols.list.data,
					 SubjectArgument("t.", quote_identifier(t->colname), t->typid));
	argtypes[0] = TEXTARRAYOID;
	values[0] = p.purposes;
	/*
	 * All of a protected table's rows, even when FORCE binds the owner
	 * (base/bypass.c); through a cursor, so that only the tuplestore (which
	 * spills to disk past work_mem) holds what is shared.
	 */
	PolicyBypassBegin(t->relid, NULL);
	(void) RoleExecuteCursor(t->owner, query.data, 1, argtypes, values, NULL,
							 shared_row, &s);
	PolicyBypassEnd();
	if (pg_cryptohash_final(s.digest, hash, SHA256_LEN) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(s.digest));
	pg_cryptohash_free(s.digest);
	PseudonymHasherFree(s.hasher);
	hex_encode((const char *) hash, SHA256_LEN, hex);
	hex[2 * SHA256_LEN] = '\0';

	/* the subjects who left, each once, in order */
	qsort(s.macs, s.nmacs, PSEUDONYM_MAC_LEN, cmp_macs);
	for (Size i = 0; i < s.nmacs; i++)
	{
		const uint8 *mac = s.macs + i * PSEUDONYM_MAC_LEN;
		char		ps[PSEUDONYM_LEN + 1];

		if (i > 0 && memcmp(mac - PSEUDONYM_MAC_LEN, mac, PSEUDONYM_MAC_LEN) == 0)
			continue;
		PseudonymHexFromMac(mac, ps);
		unique = lappend(unique, (void *) DatumGetPointer(CStringGetTextDatum(ps)));
	}
	pfree(s.macs);

	/* the custody record, as the extension's owner */
	argtypes[0] = TEXTOID;
	argtypes[1] = TEXTOID;
	values[0] = CStringGetTextDatum(partner);
	values[1] = CStringGetTextDatum(p.agreement);
	values[2] = CStringGetTextDatum(t->qualname);
	values[3] = PointerGetDatum(text_array(cols.names));
	values[4] = PointerGetDatum(text_array(cols.categories));
	values[5] = p.purposes;
	values[6] = Int64GetDatum(s.rows);
	values[7] = CStringGetTextDatum(hex);
	values[8] = PointerGetDatum(text_array(unique));
	values[9] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	(void) ExtExecute("INSERT INTO personalize.custody_event"
					  " (partner, agreement, table_name, columns, categories, purposes,"
					  "  row_count, digest, subjects, requested_by)"
					  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
					  10, argtypes, values, NULL, false, NULL, NULL);
	PG_RETURN_NULL();
}

/* ---------------------------------------------------------------------
 * The record of processing: how many subjects each purpose may use now
 * ---------------------------------------------------------------------
 */

static void
relid_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **relids = (List **) arg;
	bool		isnull;

	*relids = lappend_oid(*relids, DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull)));
}

typedef struct Counts
{
	Tuplestorestate *store;
	TupleDesc	desc;
} Counts;

static void
count_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Counts	   *c = (Counts *) arg;
	Datum		values[2];
	bool		nulls[2];

	values[0] = SPI_getbinval(tuple, desc, 1, &nulls[0]);
	values[1] = SPI_getbinval(tuple, desc, 2, &nulls[1]);
	tuplestore_putvalues(c->store, c->desc, values, nulls);
}

/*
 * _subjects_now() RETURNS TABLE (purpose_id integer, subjects bigint)
 *
 * The subjects are those of every registered table (each read as its
 * owner) and of the consent ledger; a purpose's count is how many of them
 * may_process() allows now.  A report: it reads every registered table.
 */
Datum
personalize_subjects_now(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			view = PersonalizeRelid("record_of_processing");
	List	   *relids = NIL;
	ListCell   *lc;
	Datum		all = (Datum) 0;
	bool		have = false;
	Counts		c;
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		values[1];
	char		nulls[1] = {' '};

	if (pg_class_aclcheck(view, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view record_of_processing"),
				 errhint("The subject counts are for the roles that may read personalize.record_of_processing.")));

	(void) ExtExecute("SELECT relid::pg_catalog.oid FROM personalize.subject_table ORDER BY 1",
					  0, NULL, NULL, NULL, true, relid_row, &relids);
	foreach(lc, relids)
	{
		SubjectTable *t = SubjectTableGet(lfirst_oid(lc));
		bool		isnull;
		Datum		keys;

		if (t == NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		keys = RoleValue(t->owner,
						 psprintf("SELECT pg_catalog.array_agg(DISTINCT pg_catalog.format('%%s', t.%s))"
								  "  FROM %s t WHERE t.%s IS NOT NULL",
								  quote_identifier(t->colname), t->qualname,
								  quote_identifier(t->colname)),
						 0, NULL, NULL, NULL, true, &isnull);
		if (isnull)
			continue;
		all = have ? DirectFunctionCall2(array_cat, all, keys) : keys;
		have = true;
	}

	InitMaterializedSRF(fcinfo, 0);
	c.store = rsinfo->setResult;
	c.desc = rsinfo->setDesc;
	values[0] = all;
	nulls[0] = have ? ' ' : 'n';
	(void) ExtExecute("WITH s AS MATERIALIZED ("
					  "  SELECT pg_catalog.unnest($1) AS subject"
					  "  UNION SELECT c.subject FROM personalize.consent c)"
					  " SELECT p.purpose_id,"
					  "        (SELECT pg_catalog.count(*) FROM s"
					  "          WHERE personalize.may_process(s.subject, p.name))"
					  "   FROM personalize.purpose p",
					  1, argtypes, values, nulls, true, count_row, &c);
	PG_RETURN_NULL();
}
