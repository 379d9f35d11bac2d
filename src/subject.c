/*-------------------------------------------------------------------------
 *
 * subject.c
 *	  Subject keys, registered subject tables, and the subject's rights:
 *	  export and erasure.
 *
 * Subject keys.  The rules of a valid key live here, once (subject.h);
 * every SQL function that records or acts on a subject calls
 * _subject_write() or the C functions below.  A key must also be the
 * canonical form of what every registered subject column reads from it, so
 * that "007" can never name customer 7 in a bigint table and someone else
 * in the consent ledger: such a key is refused, and register_table() (and
 * a change of a subject column's type) refuses a column that would make a
 * key already in the ledgers non-canonical.  Work on one subject is
 * serialized by a lock on the key: writers share it, forget() holds it
 * alone, so a grant cannot slip past an erasure.
 *
 * register_table() records which column of a table names the subject; every
 * feature that touches subject data starts from that registry.
 *
 * export_subject() and forget() check the caller's own privileges on every
 * registered table first: a table the caller may not read (or delete from),
 * or on which row-level security would hide some of the subject's rows,
 * stops the call before anything is read or changed.  The tables are then
 * read or erased as each table's owner, in a restricted security context
 * (common.c), so that the owner's triggers, rules, casts and defaults never
 * run with the caller's privileges.  The extension's own data (consents,
 * history, intents, signals) is read or erased as the extension's owner, by
 * fixed statements.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/subject.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "access.h"
#include "common.h"
#include "ledger.h"
#include "purpose.h"
#include "subject.h"

PG_FUNCTION_INFO_V1(personalize_subject_write);
PG_FUNCTION_INFO_V1(personalize_register_table);
PG_FUNCTION_INFO_V1(personalize_unregister_table);
PG_FUNCTION_INFO_V1(personalize_check_subject_type);
PG_FUNCTION_INFO_V1(personalize_export_subject);
PG_FUNCTION_INFO_V1(personalize_forget);

#define KEY_HINT "Pass the key that identifies the customer, as text."

/* ---------------------------------------------------------------------
 * Subject keys
 * ---------------------------------------------------------------------
 */

/* characters a key may not contain */
static inline bool
is_control(pg_wchar c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* characters a key may not begin or end with: white space and invisibles */
static inline bool
is_blank(pg_wchar c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 ||
		c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200d) ||
		c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
		c == 0x2060 || c == 0x3000 || c == 0xfeff;
}

/*
 * The characters of a key, as code points (UTF-8), or as bytes in other
 * server encodings (where only ASCII is judged).  Returns their number.
 */
static int
key_chars(const char *key, int len, pg_wchar **chars)
{
	pg_wchar   *out = palloc(sizeof(pg_wchar) * (len + 1));
	int			n = 0;

	if (GetDatabaseEncoding() == PG_UTF8)
	{
		for (int i = 0; i < len;)
		{
			int			l = pg_utf_mblen((const unsigned char *) key + i);

			out[n++] = utf8_to_unicode((const unsigned char *) key + i);
			i += l;
		}
	}
	else
	{
		for (int i = 0; i < len; i++)
		{
			unsigned char b = (unsigned char) key[i];

			/* bytes of multibyte characters are neither blank nor control */
			out[n++] = b < 0x80 ? b : 0x100;
		}
	}
	*chars = out;
	return n;
}

/*
 * Is the key valid?  With report, raise the error that says why not.
 */
static bool
key_valid(const char *key, int len, bool report)
{
	pg_wchar   *c;
	int			n = key_chars(key, len, &c);
	bool		all_blank = true;

	for (int i = 0; i < n; i++)
	{
		if (is_control(c[i]))
		{
			if (!report)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("subject must not contain control characters"),
					 errdetail("Character %d of the key is U+%04X.", i + 1, (unsigned int) c[i]),
					 errhint(KEY_HINT)));
		}
		if (!is_blank(c[i]))
			all_blank = false;
	}
	if (n == 0 || all_blank)
	{
		if (!report)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject must not be empty"),
				 n > 0 ? errdetail("The key consists of white space only.") : 0,
				 errhint(KEY_HINT)));
	}
	if (is_blank(c[0]) || is_blank(c[n - 1]))
	{
		if (!report)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject must not begin or end with white space"),
				 is_blank(c[0]) ?
				 errdetail("The key begins with U+%04X.", (unsigned int) c[0]) :
				 errdetail("The key ends with U+%04X.", (unsigned int) c[n - 1]),
				 errhint("Trim the key: the same customer must have the same key in every table.")));
	}
	pfree(c);
	return true;
}

bool
SubjectKeyValid(const char *key, int len)
{
	return key_valid(key, len, false);
}

void
SubjectKeyCheck(const char *key, int len)
{
	(void) key_valid(key, len, true);
}

/* one registered subject column, as the key rules need it */
typedef struct SubjectColumn
{
	char	   *display;		/* schema.table.column, quoted where needed */
	Oid			typid;			/* its type, domains resolved */
} SubjectColumn;

static void
subject_column_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **columns = (List **) arg;
	SubjectColumn *c = palloc(sizeof(SubjectColumn));
	bool		isnull;

	c->display = SPI_getvalue(tuple, desc, 1);
	c->typid = getBaseType(DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull)));
	*columns = lappend(*columns, c);
}

/*
 * Does a type compare its values as the text of the key does?  Then every
 * key is its own canonical form.
 */
static bool
textlike_type(Oid typid)
{
	return typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID;
}

/*
 * The canonical text of a key for a type, or NULL if the key is not a value
 * of that type (no row of such a column can be the subject's).  Only the
 * base type's input and output functions run: a domain's checks, which are
 * code of its owner, do not.
 */
static char *
canonical_for_type(const char *key, Oid typid)
{
	Oid			typinput;
	Oid			typioparam;
	Oid			typoutput;
	bool		isvarlena;
	Datum		value;

	getTypeInputInfo(typid, &typinput, &typioparam);
	if (!PersonalizeInputSafe(typinput, key, typioparam, -1, &value))
		return NULL;
	getTypeOutputInfo(typid, &typoutput, &isvarlena);
	return OidOutputFunctionCall(typoutput, value);
}

void
SubjectKeyCheckCanonical(const char *key, int len)
{
	List	   *columns = NIL;
	ListCell   *lc;
	char	   *str = pnstrdup(key, len);

	(void) ExtExecute("SELECT pg_catalog.format('%s.%I', s.relid, s.subject_column),"
					  "       a.atttypid"
					  "  FROM personalize.subject_table s"
					  "  JOIN pg_catalog.pg_attribute a"
					  "    ON a.attrelid OPERATOR(pg_catalog.=) s.relid"
					  "   AND a.attname OPERATOR(pg_catalog.=) s.subject_column"
					  " ORDER BY s.relid::pg_catalog.oid",
					  0, NULL, NULL, NULL, true, subject_column_row, &columns);
	foreach(lc, columns)
	{
		SubjectColumn *c = (SubjectColumn *) lfirst(lc);
		char	   *canonical;

		if (textlike_type(c->typid))
			continue;
		canonical = canonical_for_type(str, c->typid);
		if (canonical != NULL && strcmp(canonical, str) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("subject key \"%s\" is not in the canonical form of subject column %s",
							str, c->display),
					 errdetail("The column is of type %s, which reads the key as \"%s\"; the consent ledger and the tables would name that customer differently.",
							   format_type_be(c->typid), canonical),
					 errhint("Pass \"%s\".", canonical)));
	}
}

void
SubjectLock(const char *key, int len, bool exclusive)
{
	LOCKTAG		tag;
	LOCKMODE	mode = exclusive ? AccessExclusiveLock : AccessShareLock;

	/* a namespace of our own: the extension's OID as the lock's class */
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, PersonalizeExtensionOid(),
					   hash_bytes((const unsigned char *) key, len), 0);
	if (LockAcquire(&tag, mode, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return;
	/* someone else works on the subject: wait */
	(void) LockAcquire(&tag, mode, false, false);
	/*
	 * Under REPEATABLE READ and SERIALIZABLE our snapshot predates the
	 * other transaction's commit: erasing now could miss what it wrote.
	 */
	if (exclusive && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent change of the subject's data"),
				 errhint("Retry the transaction.")));
}

/*
 * _subject_write(subject text): for the SQL functions that record or
 * change a subject's data.  Checks the key and takes the subject's lock
 * shared.
 */
Datum
personalize_subject_write(PG_FUNCTION_ARGS)
{
	text	   *subject;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be null"),
				 errhint(KEY_HINT)));
	subject = PG_GETARG_TEXT_PP(0);
	SubjectKeyCheck(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	/* every writer of subject data comes here; Citus may run it on a worker */
	PersonalizeRefuseCitusWorker("a change to a subject's consent, intents or signals",
								 "written to the node's local tables, which nothing reads: the change would be lost");
	/*
	 * The ledgers hash a subject as its pseudonym, and take a key that
	 * already looks like one as it is (src/ledger.c): a customer's key must
	 * never look like one.
	 */
	if (VARSIZE_ANY_EXHDR(subject) >= (int) strlen(PSEUDONYM_PREFIX) &&
		memcmp(VARDATA_ANY(subject), PSEUDONYM_PREFIX, strlen(PSEUDONYM_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject keys that begin with \"%s\" are reserved", PSEUDONYM_PREFIX),
				 errdetail("The ledgers name erased subjects by such keys."),
				 errhint("Give the customer another key.")));
	SubjectKeyCheckCanonical(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	SubjectLock(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject), false);
	PG_RETURN_VOID();
}

/*
 * The key of a subject argument, checked: not null, valid, canonical.
 */
static text *
subject_argument(FunctionCallInfo fcinfo, int argno)
{
	text	   *subject;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject must not be null"),
				 errhint(KEY_HINT)));
	subject = PG_GETARG_TEXT_PP(argno);
	SubjectKeyCheck(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	SubjectKeyCheckCanonical(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	return subject;
}

/* ---------------------------------------------------------------------
 * Registered tables
 * ---------------------------------------------------------------------
 */

/* a registered table, resolved against the catalogs */

/*
 * The equality operator of a type, as OPERATOR(schema.=), or NULL if the
 * type has none.
 */
static char *
equality_operator(Oid typid)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *result;

	if (!OidIsValid(tce->eq_opr))
		return NULL;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	op = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(op->oprnamespace)),
					  NameStr(op->oprname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * Can a column of this type name a subject?  Raise the error if not.
 */
static void
check_subject_type(Oid typid, const char *colname)
{
	Oid			base = getBaseType(typid);

	if (type_is_array(base) || type_is_rowtype(base) || equality_operator(base) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of type %s cannot name a subject",
						colname, format_type_be(typid)),
				 errhint("The subject column holds the customer's key: text, bigint, uuid or another scalar type with equality.")));
}

/*
 * Refuse a subject column type that would make a key already in the
 * ledgers non-canonical (an integer column while the ledger holds "007",
 * a uuid column while it holds an upper-case uuid): forget() could then
 * erase the table's rows and not the ledger's.  Checked for the integer
 * types and uuid, the key types that have other spellings.
 */
static void
check_ledger_keys(Oid typid, const char *what)
{
	const char *pattern;
	const char *canonical;
	char	   *example;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			pattern = "^[+-]?[0-9]+$";
			canonical = "^(0|-?[1-9][0-9]*)$";
			break;
		case UUIDOID:
			pattern = "^\\{?[0-9a-fA-F]{4}(-?[0-9a-fA-F]{4}){7}\\}?$";
			canonical = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
			break;
		default:
			return;
	}
	values[0] = CStringGetTextDatum(pattern);
	values[1] = CStringGetTextDatum(canonical);
	example = ExtValueText("SELECT s.subject FROM ("
						   "  SELECT subject FROM personalize.consent_event"
						   "  UNION SELECT subject FROM personalize.intent"
						   "  UNION SELECT subject FROM personalize.signal) s"
						   " WHERE s.subject OPERATOR(pg_catalog.~) $1"
						   "   AND s.subject OPERATOR(pg_catalog.!~) $2"
						   " ORDER BY 1 LIMIT 1",
						   2, argtypes, values, NULL, true);
	if (example != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: the ledgers hold subject keys that a column of type %s reads differently",
						what, format_type_be(typid)),
				 errdetail("For example \"%s\", which the column reads as \"%s\"; forget() could then erase the table's rows and miss the ledger's.",
						   example, canonical_for_type(example, getBaseType(typid))),
				 errhint("Erase or re-key those subjects first (forget() erases one), then try again.")));
}

/*
 * Resolve one registry row.  Returns NULL (after a NOTICE) if the table is
 * gone; anything else that would keep the subject's rows from being found
 * is an error.
 */
static SubjectTable *
resolve_subject_table(Oid relid, const char *colname)
{
	SubjectTable *t;
	HeapTuple	tup;
	Form_pg_attribute att;
	char	   *relname = get_rel_name(relid);
	char		relkind;

	if (relname == NULL)
	{
		ereport(NOTICE,
				(errmsg("registered table with OID %u no longer exists; skipped", relid)));
		return NULL;
	}
	/*
	 * Every user of a registered table reads and erases it through SQL,
	 * which Citus routes to the shards of a distributed or reference table
	 * (export_subject(), forget(), share(), the record of processing).
	 */
	if (PersonalizeCitusTableKind(relid) == CITUS_OTHER)
		PersonalizeRefuseCitusTable(relid, "personalize");
	t = palloc0(sizeof(SubjectTable));
	t->relid = relid;
	t->owner = RelationOwnerOid(relid);
	t->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											 relname);
	t->colname = pstrdup(colname);

	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("registered table %s is no longer a table", t->qualname),
				 errdetail("Subject data is read and erased in tables only."),
				 errhint("Unregister it with personalize.unregister_table(), and register the table that holds the data.")));

	tup = SearchSysCacheAttName(relid, colname);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("subject column \"%s\" of registered table %s no longer exists",
						colname, t->qualname),
				 errhint("Register the table again: unregister_table(), then register_table() with its subject column.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	t->attnum = att->attnum;
	t->typid = getBaseType(att->atttypid);
	ReleaseSysCache(tup);
	t->eqop = equality_operator(t->typid);
	if (t->eqop == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("subject column \"%s\" of registered table %s has type %s, which has no equality operator",
						colname, t->qualname, format_type_be(t->typid)),
				 errhint("Change the column back to a type with equality, or unregister the table.")));
	return t;
}

typedef struct RegistryRow
{
	Oid			relid;
	char	   *column;
} RegistryRow;

static void
registry_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **rows = (List **) arg;
	RegistryRow *r = palloc(sizeof(RegistryRow));
	bool		isnull;

	r->relid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
	r->column = SPI_getvalue(tuple, desc, 2);
	*rows = lappend(*rows, r);
}

/*
 * The registered tables, in an order safe for deleting: a table that
 * references another registered table (a foreign key) comes before it.
 */
static List *
load_subject_tables(void)
{
	List	   *rows = NIL;
	List	   *result = NIL;
	ListCell   *lc;

	(void) ExtExecute(
		"WITH RECURSIVE reg AS ("
		"  SELECT relid::pg_catalog.oid AS relid, subject_column FROM personalize.subject_table),"
		" deps AS ("
		"  SELECT c.conrelid AS child, c.confrelid AS parent FROM pg_catalog.pg_constraint c"
		"   WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
		"     AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid"
		"     AND c.conrelid IN (SELECT relid FROM reg) AND c.confrelid IN (SELECT relid FROM reg)),"
		" h(relid, height) AS ("
		"  SELECT relid, 0 FROM reg"
		"  UNION ALL"
		"  SELECT d.parent, h.height OPERATOR(pg_catalog.+) 1 FROM h JOIN deps d"
		"      ON d.child OPERATOR(pg_catalog.=) h.relid"
		"   WHERE h.height OPERATOR(pg_catalog.<) 100)"
		" SELECT reg.relid, reg.subject_column::pg_catalog.text"
		"   FROM reg JOIN (SELECT relid, pg_catalog.max(height) AS height FROM h GROUP BY relid) o"
		"     ON o.relid OPERATOR(pg_catalog.=) reg.relid"
		"  ORDER BY o.height, reg.relid",
		0, NULL, NULL, NULL, true, registry_row, &rows);
	foreach(lc, rows)
	{
		RegistryRow *r = (RegistryRow *) lfirst(lc);
		SubjectTable *t = resolve_subject_table(r->relid, r->column);

		if (t)
			result = lappend(result, t);
	}
	return result;
}

/*
 * One registered table, or NULL if relid is not registered.
 */
SubjectTable *
SubjectTableGet(Oid relid)
{
	List	   *rows = NIL;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	RegistryRow *r;

	values[0] = ObjectIdGetDatum(relid);
	(void) ExtExecute("SELECT relid::pg_catalog.oid, subject_column::pg_catalog.text"
					  "  FROM personalize.subject_table"
					  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, true, registry_row, &rows);
	if (rows == NIL)
		return NULL;
	r = (RegistryRow *) linitial(rows);
	return resolve_subject_table(r->relid, r->column);
}

/*
 * Stop before touching anything if the caller lacks a privilege on a
 * registered table, or if row-level security would hide some of the
 * subject's rows from the caller, or from the table's owner (as whom the
 * table is read).  action names the operation in messages.
 */
static void
check_table_access(List *tables, bool need_delete, const char *action,
				   const char *function)
{
	StringInfoData denied;
	StringInfoData hidden;
	StringInfoData forced;
	ListCell   *lc;
	Oid			role = GetUserId();

	initStringInfo(&denied);
	initStringInfo(&hidden);
	initStringInfo(&forced);
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		bool		can_select;
		bool		can_delete = true;

		can_select = pg_class_aclcheck(t->relid, role, ACL_SELECT) == ACLCHECK_OK;
		if (need_delete)
		{
			/* DELETE ... WHERE subject = $1 reads only the subject column */
			can_select = can_select ||
				pg_attribute_aclcheck(t->relid, t->attnum, role, ACL_SELECT) == ACLCHECK_OK;
			can_delete = pg_class_aclcheck(t->relid, role, ACL_DELETE) == ACLCHECK_OK;
		}
		if (!can_select || !can_delete)
			appendStringInfo(&denied, "%s%s (%s)", denied.len ? ", " : "",
							 t->qualname,
							 !can_select && !can_delete ? "SELECT, DELETE" :
							 !can_select ? "SELECT" : "DELETE");
		else if (check_enable_rls(t->relid, InvalidOid, true) == RLS_ENABLED)
			appendStringInfo(&hidden, "%s%s", hidden.len ? ", " : "", t->qualname);
		else if (check_enable_rls(t->relid, t->owner, true) == RLS_ENABLED &&
				 (!AccessOnlyOurPolicies(t->relid) ||
				  /* the shards' policies do not know this backend's own statements */
				  PersonalizeCitusTableKind(t->relid) != CITUS_NONE))
			appendStringInfo(&forced, "%s%s", forced.len ? ", " : "", t->qualname);
	}
	if (denied.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s subject data", action),
				 errdetail("The current role lacks privileges on registered tables: %s.",
						   denied.data),
				 errhint("Grant them, or call %s() as a role that has them; nothing was changed.",
						 function)));
	if (hidden.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security could hide some of the subject's rows"),
				 errdetail("Row-level security applies to the current role on: %s.",
						   hidden.data),
				 errhint("Call %s() as the tables' owner or a role with BYPASSRLS, so that no row is missed; nothing was changed.",
						 function)));
	if (forced.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security could hide some of the subject's rows from the table's owner"),
				 errdetail("The tables are read and erased as their owner, and FORCE ROW LEVEL SECURITY applies to the owner on: %s.",
						   forced.data),
				 errhint("Let the owner see every row (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, or a policy for the owner); nothing was changed.")));
}

/*
 * The subject's key as a value of a table's subject column.  Returns false
 * when the key is not a value of that type: then no row of the table is
 * the subject's.
 */
static bool
subject_as_column_value(const char *subject, SubjectTable *t, Datum *value)
{
	Oid			typinput;
	Oid			typioparam;

	getTypeInputInfo(t->typid, &typinput, &typioparam);
	return PersonalizeInputSafe(typinput, subject, typioparam, -1, value);
}

/*
 * register_table(tbl regclass, subject_column name)
 */
Datum
personalize_register_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Name		column;
	char		relkind;
	char	   *relname;
	HeapTuple	tup;
	Form_pg_attribute att;
	Oid			typid;
	Oid			argtypes[3] = {OIDOID, NAMEOID, OIDOID};
	Datum		values[3];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and subject column must not be null")));
	relid = PG_GETARG_OID(0);
	column = PG_GETARG_NAME(1);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("Only tables hold subject data; views and other relations read it from tables."),
				 errhint("Register the table the data is stored in.")));
	if (IsCatalogNamespace(get_rel_namespace(relid)) ||
		isAnyTempNamespace(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot register table \"%s\"", relname),
				 errdetail("System catalogs and temporary tables cannot be registered.")));
	if (!PersonalizeRelOwnerCheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", relname),
				 errhint("Ask the table's owner to register it.")));
	/* distributed and reference tables: export_subject() and forget() */
	if (PersonalizeCitusTableKind(relid) == CITUS_OTHER)
		PersonalizeRefuseCitusTable(relid, "register_table()");

	tup = SearchSysCacheAttName(relid, NameStr(*column));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						NameStr(*column), relname)));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	if (att->attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
				 errmsg("cannot use system column \"%s\" as the subject column",
						NameStr(*column))));
	typid = att->atttypid;
	ReleaseSysCache(tup);
	check_subject_type(typid, NameStr(*column));
	check_ledger_keys(typid, psprintf("cannot register table \"%s\"", relname));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(column);
	values[2] = ObjectIdGetDatum(typid);
	if (ExtExecute("INSERT INTO personalize.subject_table (relid, subject_column, subject_type)"
				   " VALUES ($1, $2, $3) ON CONFLICT (relid) DO NOTHING",
				   3, argtypes, values, NULL, false, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already registered", relname),
				 errhint("To change its subject column, call unregister_table() first.")));
	PG_RETURN_VOID();
}

/*
 * unregister_table(tbl regclass)
 */
Datum
personalize_unregister_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *relname;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	char	   *views;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!PersonalizeRelOwnerCheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", relname)));
	values[0] = ObjectIdGetDatum(relid);
	views = ExtValueText(
		"SELECT pg_catalog.string_agg(v.view::pg_catalog.text, ', ' ORDER BY v.view::pg_catalog.text)"
		"  FROM personalize.consent_view v"
		" WHERE v.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
		"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
		"                WHERE c.oid OPERATOR(pg_catalog.=) v.view::pg_catalog.oid)",
		1, argtypes, values, NULL, true);
	if (views != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot unregister table \"%s\" because consent views depend on it", relname),
				 errdetail("Consent views: %s.", views),
				 errhint("Drop them with personalize.drop_consent_view() first.")));
	if (AccessTableProtected(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot unregister table \"%s\" because it is protected", relname),
				 errdetail("Its row level security policies check access grants on its subject column."),
				 errhint("Call personalize.unprotect() first.")));
	/* registry rows of views that are gone (a temporary view's) go too */
	(void) ExtExecute("DELETE FROM personalize.consent_view"
					  " WHERE source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, false, NULL, NULL);
	if (ExtExecute("DELETE FROM personalize.subject_table"
				   " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				   1, argtypes, values, NULL, false, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", relname)));
	PG_RETURN_VOID();
}

/*
 * _check_subject_type(tbl regclass, typid oid): for the ddl_command_end
 * trigger, when the type of a registered subject column changed: the new
 * type must be able to name subjects, and keep the ledgers' keys canonical.
 */
Datum
personalize_check_subject_type(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			typid = PG_GETARG_OID(1);
	char	   *column = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *relname = get_rel_name(relid);

	check_subject_type(typid, column);
	check_ledger_keys(typid, psprintf("cannot change the type of subject column \"%s\" of \"%s\"",
									  column, relname ? relname : "?"));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Export and erasure
 * ---------------------------------------------------------------------
 */

/*
 * export_subject(subject text): everything held about the subject, as jsonb.
 */
Datum
personalize_export_subject(PG_FUNCTION_ARGS)
{
	text	   *subject = subject_argument(fcinfo, 0);
	char	   *subject_str = text_to_cstring(subject);
	List	   *tables;
	ListCell   *lc;
	int			ntables;
	Datum	   *names;
	Datum	   *rows;
	int			i = 0;
	Datum		result;
	bool		isnull;
	Oid			argtypes[4] = {TEXTOID, TEXTARRAYOID, JSONBARRAYOID, TEXTOID};
	bool		lawful;
	bool		custody = CustodyLogExists();
	char	   *pseudonym;
	char	   *sql;
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	PersonalizeRefuseCitusWorker("export_subject()",
								 "read from the node's local tables, which hold none of the subject's data: the export would be empty");
	tables = load_subject_tables();
	check_table_access(tables, false, "export", "export_subject");

	ntables = list_length(tables);
	names = palloc(sizeof(Datum) * (ntables + 1));
	rows = palloc(sizeof(Datum) * (ntables + 1));

	/* the registered tables, each read as its owner */
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		Datum		value;

		names[i] = CStringGetTextDatum(t->qualname);
		rows[i] = (Datum) 0;
		if (subject_as_column_value(subject_str, t, &value))
		{
			/* the subject's rows, even when FORCE binds the owner (access.h) */
			AccessBypassBegin(t->relid, subject_str);
			rows[i] = RoleValue(t->owner,
								psprintf("SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t))"
										 "  FROM %s t WHERE t.%s %s $1",
										 t->qualname, quote_identifier(t->colname), t->eqop),
								1, &t->typid, &value, NULL, true, &isnull);
			AccessBypassEnd();
		}
		else
			isnull = true;
		if (isnull)
			rows[i] = DirectFunctionCall1(jsonb_in, CStringGetDatum("[]"));
		i++;
	}

	/* the extension's own data about the subject, read as its owner */
	values[0] = PointerGetDatum(subject);
	values[1] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(rows, ntables, JSONBOID,
												-1, false, TYPALIGN_INT));
	/* lawful bases, in a database at 0.2.0 or later */
	lawful = PurposeHasLawfulBases();
	sql = psprintf(
		"SELECT pg_catalog.jsonb_build_object("
		" 'subject', $1,"
		" 'exported_at', pg_catalog.now(),"
		" 'consents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'purpose', c.purpose, 'status', c.status, 'source', c.source,"
		"     'updated_at', c.updated_at, 'expires_at', c.expires_at,"
		"     'effective', personalize.%s(c.subject, c.purpose)%s)"
		"     ORDER BY c.purpose), '[]')"
		"   FROM personalize.consents c WHERE c.subject OPERATOR(pg_catalog.=) $1),"
		" 'consent_history', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'event_id', h.event_id, 'purpose', h.purpose, 'action', h.action,"
		"     'source', h.source, 'expires_at', h.expires_at, 'occurred_at', h.occurred_at)"
		"     ORDER BY h.event_id), '[]')"
		"   FROM personalize.consent_history h WHERE h.subject OPERATOR(pg_catalog.=) $1),"
		" 'purposes', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'purpose', p.name, 'description', p.description,"
		"     'value_exchange', p.value_exchange,%s"
		"     'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(pc.category ORDER BY pc.category), '[]')"
		"                      FROM personalize.purpose_category pc"
		"                     WHERE pc.purpose_id OPERATOR(pg_catalog.=) p.purpose_id))"
		"     ORDER BY p.name), '[]')"
		"   FROM personalize.purpose p"
		"  WHERE p.purpose_id IN (SELECT e.purpose_id FROM personalize.consent_event e"
		"                          WHERE e.subject OPERATOR(pg_catalog.=) $1)),"
		" 'intents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'tag', i.tag, 'weight', i.weight, 'stated_at', i.stated_at)"
		"     ORDER BY i.tag), '[]')"
		"   FROM personalize.intent i WHERE i.subject OPERATOR(pg_catalog.=) $1),"
		" 'signals', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'tag', s.tag, 'kind', s.kind, 'weight', s.weight, 'at', s.at,"
		"     'offer_id', s.offer_id)"
		"     ORDER BY s.at, s.signal_id), '[]')"
		"   FROM personalize.signal s WHERE s.subject OPERATOR(pg_catalog.=) $1),"
		" 'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(n, r), '{}')"
		"   FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(n, r))%s)",
		lawful ? "may_process" : "has_consent",
		lawful ? ", 'lawful_basis', c.lawful_basis" : "",
		lawful ? " 'lawful_basis', p.lawful_basis," : "",
		/* the partners that received the subject's data (Art. 15(1)(c)) */
		custody ?
		", 'recipients', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'partner', r.partner, 'agreement', r.agreement, 'tables', r.tables,"
		"     'categories', r.categories, 'shares', r.shares,"
		"     'first_shared_at', r.first_shared_at, 'last_shared_at', r.last_shared_at)), '[]')"
		"   FROM personalize._recipients_by_pseudonym($4) r)" : "");
	/* without a key nothing was ever shared: no recipients (and no write) */
	pseudonym = custody ? SubjectPseudonymIfKey(VARDATA_ANY(subject),
												VARSIZE_ANY_EXHDR(subject)) : NULL;
	values[3] = pseudonym ? CStringGetTextDatum(pseudonym) : (Datum) 0;
	nulls[3] = pseudonym ? ' ' : 'n';
	result = ExtValue(sql, custody ? 4 : 3, argtypes, values, nulls, true, &isnull);
	PG_RETURN_DATUM(result);
}

/*
 * forget(subject text): erase the subject from every registered table and
 * from the extension's data; pseudonymize its consent history.  Returns
 * what was done, as jsonb.
 */
Datum
personalize_forget(PG_FUNCTION_ARGS)
{
	text	   *subject = subject_argument(fcinfo, 0);
	char	   *subject_str = text_to_cstring(subject);
	List	   *tables;
	ListCell   *lc;
	int			ntables;
	Datum	   *names;
	Datum	   *counts;
	int			i = 0;
	Datum		result;
	bool		isnull;
	char	   *pseudonym;
	bool		custody;
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID, INT8OID};
	Datum		values[5];

	/* no grant or intent of this subject can commit while we erase */
	SubjectLock(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject), true);

	PersonalizeRefuseCitusWorker("forget()",
								 "erased from the node's local tables, which hold none of the subject's data: nothing would be erased");
	tables = load_subject_tables();
	check_table_access(tables, true, "erase", "forget");
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);

		/*
		 * Citus uses one connection per role for a transaction's changes to
		 * reference tables: the erasure of a table owned by another role
		 * and the extension owner's change to the copies
		 * (sql/src/citus.sql) cannot meet in one transaction.
		 */
		if (PersonalizeCitusTableKind(t->relid) == CITUS_REFERENCE &&
			t->owner != PersonalizeExtensionOwner() &&
			PersonalizeCitusTableKind(PersonalizeRelid(REL_CONSENT_REPLICA)) == CITUS_REFERENCE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("forget() cannot erase from the Citus reference table %s", t->qualname),
					 errdetail("Citus writes reference tables over one connection per role in a transaction, and forget() changes the table as its owner and the copies of distribute() as the extension's owner."),
					 errhint("Give the table to the extension's owner, distribute it by its subject column with create_distributed_table(), or keep it local to the coordinator.")));

		/*
		 * Nor can two owners change colocated shards: Citus refuses a
		 * placement group modified by another role in the same
		 * transaction, and the erasure would stop half-way through.
		 */
		if (PersonalizeCitusTableKind(t->relid) == CITUS_DISTRIBUTED)
		{
			int64		group = PersonalizeCitusColocation(t->relid);
			ListCell   *lc2;

			for_each_cell(lc2, tables, lnext(tables, lc))
			{
				SubjectTable *u = (SubjectTable *) lfirst(lc2);

				if (u->owner != t->owner &&
					PersonalizeCitusTableKind(u->relid) == CITUS_DISTRIBUTED &&
					PersonalizeCitusColocation(u->relid) == group)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("forget() cannot erase from the colocated Citus tables %s and %s, which have different owners",
									t->qualname, u->qualname),
							 errdetail("Each table is erased as its owner, and Citus refuses a transaction in which two roles change colocated shards."),
							 errhint("Give colocated tables one owner (ALTER TABLE ... OWNER TO), or distribute one of them with colocate_with => 'none'.")));
			}
		}
	}

	ntables = list_length(tables);
	names = palloc(sizeof(Datum) * (ntables + 1));
	counts = palloc(sizeof(Datum) * (ntables + 1));

	/* the registered tables, referencing tables first, each as its owner */
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		Datum		value;
		int64		deleted = 0;

		if (subject_as_column_value(subject_str, t, &value))
		{
			AccessBypassBegin(t->relid, subject_str);
			deleted = (int64) RoleExecute(t->owner,
										  psprintf("DELETE FROM %s t WHERE t.%s %s $1",
												   t->qualname, quote_identifier(t->colname),
												   t->eqop),
										  1, &t->typid, &value, NULL, false, NULL, NULL);
			AccessBypassEnd();
		}
		names[i] = CStringGetTextDatum(t->qualname);
		counts[i] = Int64GetDatum(deleted);
		i++;
	}

	/* the extension's data, as its owner */
	pseudonym = SubjectPseudonym(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	values[0] = PointerGetDatum(subject);
	values[1] = CStringGetTextDatum(pseudonym);
	values[2] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(counts, ntables, INT8OID,
												8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	LedgerBeginErasure();
	PG_TRY();
	{
		values[4] = Int64GetDatum((int64) ExtExecute(
			"UPDATE personalize.consent_event SET subject = $2"
			" WHERE subject OPERATOR(pg_catalog.=) $1",
			2, argtypes, values, NULL, false, NULL, NULL));
	}
	PG_FINALLY();
	{
		LedgerEndErasure();
	}
	PG_END_TRY();

	/*
	 * The partners that received the subject's data must be told of the
	 * erasure (GDPR Art. 19): in a database at 0.2.0 or later, from the
	 * custody log, which names subjects by their pseudonym only.
	 */
	custody = CustodyLogExists();
	result = ExtValue(psprintf(
		"WITH i AS (DELETE FROM personalize.intent WHERE subject OPERATOR(pg_catalog.=) $1 RETURNING 1),"
		" s AS (DELETE FROM personalize.signal WHERE subject OPERATOR(pg_catalog.=) $1 RETURNING 1),"
		" c AS (DELETE FROM personalize.consent WHERE subject OPERATOR(pg_catalog.=) $1 RETURNING 1),"
		" e AS (INSERT INTO personalize.consent_event (subject, purpose_id, action)"
		"       VALUES ($2, NULL, 'forget') RETURNING event_id)"
		" SELECT pg_catalog.jsonb_build_object("
		"  'subject_pseudonym', $2,"
		"  'forgotten_at', pg_catalog.now(),"
		"  'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(n, r), '{}')"
		"              FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4)) AS u(n, r)),"
		"  'intents', (SELECT pg_catalog.count(*) FROM i),"
		"  'signals', (SELECT pg_catalog.count(*) FROM s),"
		"  'consents', (SELECT pg_catalog.count(*) FROM c),"
		"  'consent_events_pseudonymized', $5,"
		"  'forget_event_id', (SELECT event_id FROM e)%s)",
		custody ?
		", 'partners_to_notify', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
		"     'partner', r.partner, 'agreement', r.agreement, 'tables', r.tables,"
		"     'categories', r.categories, 'last_shared_at', r.last_shared_at)), '[]')"
		"   FROM personalize._recipients_by_pseudonym($2) r)" : ""),
		5, argtypes, values, NULL, false, &isnull);
	PG_RETURN_DATUM(result);
}

/*
 * The argument that passes a subject column to has_consent(), may_process()
 * or has_access() in SQL text: integer keys use the bigint entry point and
 * uuid keys their own, so no row pays a conversion to text; other types go
 * through their output function, never through a cast (which the type's
 * owner could have defined).  qualifier is "t." or "".
 */
char *
SubjectArgument(const char *qualifier, const char *column, Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
			return psprintf("%s%s::pg_catalog.int8", qualifier, column);
		case INT8OID:
		case UUIDOID:
		case TEXTOID:
			return psprintf("%s%s", qualifier, column);
		case VARCHAROID:
		case BPCHAROID:
			return psprintf("%s%s::pg_catalog.text", qualifier, column);
		default:
			return psprintf("pg_catalog.format('%%s', %s%s)", qualifier, column);
	}
}
