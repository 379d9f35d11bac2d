/*-------------------------------------------------------------------------
 *
 * subject_key.c
 *	  The rules of a subject key, in one place, and the lock that
 *	  serializes work on one subject.
 *
 * Every SQL function that records or acts on a subject calls
 * _subject_write() or the C functions below.  A key must also be the
 * canonical form of what every registered subject column reads from it, so
 * that "007" can never name customer 7 in a bigint table and someone else
 * in the consent ledger: such a key is refused, and register_table() (and
 * a change of a subject column's type) refuses a column that would make a
 * key already in the ledgers non-canonical.  Work on one subject is
 * serialized by a lock on the key: writers share it, forget() holds it
 * alone, so a grant cannot slip past an erasure.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/subject_key.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "base/text.h"

PG_FUNCTION_INFO_V1(personalize_subject_write);

#define KEY_HINT "Pass the key that identifies the customer, as text."

static inline bool
is_control(pg_wchar c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/*
 * Is the key valid?  With report, raise the error that says why not.
 */
static bool
key_valid(const char *key, int len, bool report)
{
	pg_wchar   *c;
	int			n = TextChars(key, len, &c);
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
		if (!TextCharIsBlank(c[i]))
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
	if (TextCharIsBlank(c[0]) || TextCharIsBlank(c[n - 1]))
	{
		if (!report)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject must not begin or end with white space"),
				 TextCharIsBlank(c[0]) ?
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
char *
SubjectKeyCanonicalForType(const char *key, Oid typid)
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
		canonical = SubjectKeyCanonicalForType(str, c->typid);
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
	 * already looks like one as it is (src/ledgers/ledgers.c): a customer's key must
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
text *
SubjectKeyArgument(FunctionCallInfo fcinfo, int argno)
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
