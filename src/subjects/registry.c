/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registered subject tables: register_table() records which column of a
 *	  table names the subject; every feature that touches subject data
 *	  starts from that registry.
 *
 * A subject column must be able to name subjects (a scalar type with
 * equality) and keep the ledgers' keys canonical (base/subject_key.c):
 * register_table(), and a change of a subject column's type, refuse a
 * column that would make a key already in the ledgers non-canonical.  A
 * registered table is resolved against the catalogs each time it is used,
 * so that one which is no longer the table it was registered as is a clear
 * error, never a wrong read.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/subjects/registry.c
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

#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "privilege/privilege.h"
#include "subjects/subjects.h"

PG_FUNCTION_INFO_V1(personalize_register_table);
PG_FUNCTION_INFO_V1(personalize_unregister_table);
PG_FUNCTION_INFO_V1(personalize_check_subject_type);

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
						   example, SubjectKeyCanonicalForType(example, getBaseType(typid))),
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
List *
SubjectTablesLoad(void)
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
 * The subject's key as a value of a table's subject column.  Returns false
 * when the key is not a value of that type: then no row of the table is
 * the subject's.
 */
bool
SubjectTableValue(const SubjectTable *t, const char *subject, Datum *value)
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

