/*-------------------------------------------------------------------------
 *
 * subject.c
 *	  Registered subject tables and the subject's rights: export and erasure.
 *
 * register_table() records which column of a table names the subject; every
 * feature that touches subject data (export, erasure, consent views,
 * retention, review) starts from that registry.
 *
 * export_subject() and forget() run as their caller: the caller's own
 * privileges decide what happens to the registered tables, and a table the
 * caller may not read (or delete from), or on which row-level security
 * would hide some of the subject's rows, stops the call before anything is
 * read or changed.  The extension's own data (consents, their history,
 * intents, signals) is then read or erased as the extension's owner, by
 * fixed statements only.
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
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif

#include "personalize.h"

PG_FUNCTION_INFO_V1(personalize_register_table);
PG_FUNCTION_INFO_V1(personalize_unregister_table);
PG_FUNCTION_INFO_V1(personalize_export_subject);
PG_FUNCTION_INFO_V1(personalize_forget);

/* a registered table, resolved against the catalogs */
typedef struct SubjectTable
{
	Oid			relid;
	char	   *qualname;		/* quoted, schema-qualified */
	char	   *display;		/* schema.table, for results and messages */
	char	   *colname;
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	char	   *eqop;			/* OPERATOR(schema.=) for the column type */
} SubjectTable;

/*
 * Raise the error for an empty or missing subject key.
 */
static void
check_subject(text *subject)
{
	char	   *s = text_to_cstring(subject);
	bool		blank = true;

	for (char *p = s; *p; p++)
		if (!isspace((unsigned char) *p))
			blank = false;
	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject must not be empty"),
				 errhint("Pass the key that identifies the customer, as text.")));
	pfree(s);
}

/*
 * The equality operator of a subject column type, as OPERATOR(schema.=),
 * or NULL if the type has none.
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
 * Resolve one registry row.  Returns NULL (after a NOTICE) if the table is
 * gone; a vanished subject column is an error, since that table's subject
 * data could no longer be found.
 */
static SubjectTable *
resolve_subject_table(Oid relid, const char *colname)
{
	SubjectTable *t;
	HeapTuple	tup;
	Form_pg_attribute att;
	char	   *nspname;
	char	   *relname;

	relname = get_rel_name(relid);
	if (relname == NULL)
	{
		ereport(NOTICE,
				(errmsg("registered table with OID %u no longer exists; skipped", relid)));
		return NULL;
	}
	nspname = get_namespace_name(get_rel_namespace(relid));

	t = palloc0(sizeof(SubjectTable));
	t->relid = relid;
	t->qualname = quote_qualified_identifier(nspname, relname);
	t->display = psprintf("%s.%s", nspname, relname);
	t->colname = pstrdup(colname);

	tup = SearchSysCacheAttName(relid, colname);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("subject column \"%s\" of registered table %s no longer exists",
						colname, t->display),
				 errhint("Register the table again: unregister_table(), then register_table() with its subject column.")));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	t->attnum = att->attnum;
	t->typid = att->atttypid;
	t->typmod = att->atttypmod;
	ReleaseSysCache(tup);
	t->eqop = equality_operator(t->typid);
	if (t->eqop == NULL)
		elog(ERROR, "type %s has no equality operator", format_type_be(t->typid));
	return t;
}

/*
 * The registered tables, in an order safe for deleting: a table that
 * references another registered table (a foreign key) comes before it.
 */
static List *
load_subject_tables(void)
{
	List	   *result = NIL;
	Oid		   *relids = NULL;
	char	  **columns = NULL;
	uint64		nrows;
	int			ret;
	MemoryContext cxt = CurrentMemoryContext;
	OwnerSwitch sw;

	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	ret = SPI_execute(
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
		true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the registered tables: %s",
			 SPI_result_code_string(ret));
	nrows = SPI_processed;
	if (nrows > 0)
	{
		relids = MemoryContextAlloc(cxt, sizeof(Oid) * nrows);
		columns = MemoryContextAlloc(cxt, sizeof(char *) * nrows);
	}
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];

		relids[i] = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		columns[i] = MemoryContextStrdup(cxt, SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);

	for (uint64 i = 0; i < nrows; i++)
	{
		SubjectTable *t = resolve_subject_table(relids[i], columns[i]);

		if (t)
			result = lappend(result, t);
	}
	return result;
}

/*
 * Stop before touching anything if the caller lacks a privilege on a
 * registered table, or if row-level security would hide some of the
 * subject's rows from the caller.  action names the operation in messages.
 */
static void
check_table_access(List *tables, bool need_delete, const char *action,
				   const char *function)
{
	StringInfoData denied;
	StringInfoData hidden;
	ListCell   *lc;
	Oid			role = GetUserId();

	initStringInfo(&denied);
	initStringInfo(&hidden);
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
							 t->display,
							 !can_select && !can_delete ? "SELECT, DELETE" :
							 !can_select ? "SELECT" : "DELETE");
		else if (check_enable_rls(t->relid, InvalidOid, true) == RLS_ENABLED)
			appendStringInfo(&hidden, "%s%s", hidden.len ? ", " : "", t->display);
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
}

/*
 * Convert the subject key to the subject column's type.  Returns false when
 * the key is not a value of that type (then no row of the table can be the
 * subject's); other errors propagate.
 */
static bool
subject_as_column_value(const char *subject, SubjectTable *t, Datum *value)
{
	Oid			typinput;
	Oid			typioparam;

	getTypeInputInfo(t->typid, &typinput, &typioparam);
#if PG_VERSION_NUM >= 160000
	{
		ErrorSaveContext escontext = {T_ErrorSaveContext};

		return OidInputFunctionCallSafe(typinput, unconstify(char *, subject),
										typioparam, t->typmod,
										(Node *) &escontext, value);
	}
#else
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		bool		ok = true;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			*value = OidInputFunctionCall(typinput, unconstify(char *, subject),
										  typioparam, t->typmod);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcxt);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
			if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
				ReThrowError(edata);
			FreeErrorData(edata);
			ok = false;
		}
		PG_END_TRY();
		return ok;
	}
#endif
}

/*
 * register_table(tbl regclass, subject_column name)
 */
Datum
personalize_register_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Name		column = PG_GETARG_NAME(1);
	char		relkind;
	char	   *relname = get_rel_name(relid);
	HeapTuple	tup;
	Form_pg_attribute att;
	Oid			typid;
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	OwnerSwitch sw;
	int			ret;

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
	if (type_is_array(typid) || type_is_rowtype(typid) ||
		equality_operator(typid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of type %s cannot name a subject",
						NameStr(*column), format_type_be(typid)),
				 errhint("The subject column holds the customer's key: text, bigint, uuid or another scalar type with equality.")));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = NameGetDatum(column);
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	ret = SPI_execute_with_args(
		"INSERT INTO personalize.subject_table (relid, subject_column)"
		" VALUES ($1, $2) ON CONFLICT (relid) DO NOTHING",
		2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not register table: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already registered", relname),
				 errhint("To change its subject column, call unregister_table() first.")));
	SPI_finish();
	PersonalizeRestoreUser(&sw);
	PG_RETURN_VOID();
}

/*
 * unregister_table(tbl regclass)
 */
Datum
personalize_unregister_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname = get_rel_name(relid);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	OwnerSwitch sw;
	int			ret;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!PersonalizeRelOwnerCheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", relname)));
	values[0] = ObjectIdGetDatum(relid);
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	ret = SPI_execute_with_args(
		"SELECT pg_catalog.string_agg(view::pg_catalog.text, ', ' ORDER BY view::pg_catalog.text)"
		"  FROM personalize.consent_view"
		" WHERE source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
		1, argtypes, values, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *views = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (views != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot unregister table \"%s\" because consent views depend on it", relname),
					 errdetail("Consent views: %s.", views),
					 errhint("Drop them with personalize.drop_consent_view() first.")));
	}
	ret = SPI_execute_with_args(
		"DELETE FROM personalize.subject_table"
		" WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
		1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not unregister table: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not registered", relname)));
	SPI_finish();
	PersonalizeRestoreUser(&sw);
	PG_RETURN_VOID();
}

/*
 * Run a one-row, one-column query through SPI and return its first column
 * as a datum copied into cxt (NULL if the value is NULL).
 */
static Datum
spi_value(const char *query, int nargs, Oid *argtypes, Datum *values,
		  bool read_only, MemoryContext cxt, bool *isnull)
{
	int			ret = SPI_execute_with_args(query, nargs, argtypes, values,
											NULL, read_only, 1);
	Datum		d;
	Form_pg_attribute att;

	if (ret < 0 || SPI_tuptable == NULL || SPI_processed != 1)
		elog(ERROR, "query returned no row: %s", SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (*isnull)
		return (Datum) 0;
	att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		d = datumCopy(d, att->attbyval, att->attlen);
		MemoryContextSwitchTo(old);
	}
	return d;
}

/*
 * export_subject(subject text): everything held about the subject, as jsonb.
 */
Datum
personalize_export_subject(PG_FUNCTION_ARGS)
{
	text	   *subject = PG_GETARG_TEXT_PP(0);
	char	   *subject_str = text_to_cstring(subject);
	MemoryContext cxt = CurrentMemoryContext;
	List	   *tables;
	ListCell   *lc;
	int			ntables;
	Datum	   *names;
	Datum	   *rows;
	int			i = 0;
	Datum		result;
	bool		isnull;
	OwnerSwitch sw;

	check_subject(subject);
	tables = load_subject_tables();
	check_table_access(tables, false, "export", "export_subject");

	ntables = list_length(tables);
	names = palloc(sizeof(Datum) * (ntables + 1));
	rows = palloc(sizeof(Datum) * (ntables + 1));

	/* the registered tables, read as the caller */
	SPI_connect();
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		Datum		value;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/* results outlive SPI: allocate them in the caller's context */
		names[i] = CStringGetTextDatum(t->display);
		MemoryContextSwitchTo(old);
		if (!subject_as_column_value(subject_str, t, &value))
		{
			old = MemoryContextSwitchTo(cxt);
			rows[i] = DirectFunctionCall1(jsonb_in, CStringGetDatum("[]"));
			MemoryContextSwitchTo(old);
		}
		else
		{
			char	   *query = psprintf(
				"SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t)),"
				" '[]'::pg_catalog.jsonb) FROM %s t WHERE t.%s %s $1",
				t->qualname, quote_identifier(t->colname), t->eqop);

			rows[i] = spi_value(query, 1, &t->typid, &value, true, cxt, &isnull);
		}
		i++;
	}
	SPI_finish();

	/* the extension's own data about the subject, read as its owner */
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	{
		Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, JSONBARRAYOID};
		Datum		values[3];

		values[0] = PointerGetDatum(subject);
		values[1] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(rows, ntables, JSONBOID,
													-1, false, TYPALIGN_INT));
		result = spi_value(
			"SELECT pg_catalog.jsonb_build_object("
			" 'subject', $1,"
			" 'exported_at', pg_catalog.now(),"
			" 'consents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			"     'purpose', c.purpose, 'status', c.status, 'source', c.source,"
			"     'updated_at', c.updated_at, 'expires_at', c.expires_at,"
			"     'effective', personalize.has_consent(c.subject, c.purpose))"
			"     ORDER BY c.purpose), '[]')"
			"   FROM personalize.consents c WHERE c.subject OPERATOR(pg_catalog.=) $1),"
			" 'consent_history', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			"     'event_id', h.event_id, 'purpose', h.purpose, 'action', h.action,"
			"     'source', h.source, 'expires_at', h.expires_at, 'occurred_at', h.occurred_at)"
			"     ORDER BY h.event_id), '[]')"
			"   FROM personalize.consent_history h WHERE h.subject OPERATOR(pg_catalog.=) $1),"
			" 'purposes', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			"     'purpose', p.name, 'description', p.description,"
			"     'value_exchange', p.value_exchange,"
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
			"   FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(n, r)))",
			3, argtypes, values, true, cxt, &isnull);
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);
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
	text	   *subject = PG_GETARG_TEXT_PP(0);
	char	   *subject_str = text_to_cstring(subject);
	MemoryContext cxt = CurrentMemoryContext;
	List	   *tables;
	ListCell   *lc;
	int			ntables;
	Datum	   *names;
	Datum	   *counts;
	int			i = 0;
	Datum		result;
	bool		isnull;
	OwnerSwitch sw;

	check_subject(subject);
	tables = load_subject_tables();
	check_table_access(tables, true, "erase", "forget");

	ntables = list_length(tables);
	names = palloc(sizeof(Datum) * (ntables + 1));
	counts = palloc(sizeof(Datum) * (ntables + 1));

	/* the registered tables, as the caller, referencing tables first */
	SPI_connect();
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		Datum		value;
		int64		deleted = 0;

		if (subject_as_column_value(subject_str, t, &value))
		{
			char	   *query = psprintf("DELETE FROM %s t WHERE t.%s %s $1",
										 t->qualname, quote_identifier(t->colname),
										 t->eqop);
			int			ret = SPI_execute_with_args(query, 1, &t->typid, &value,
													NULL, false, 0);

			if (ret != SPI_OK_DELETE)
				elog(ERROR, "could not delete from %s: %s", t->display,
					 SPI_result_code_string(ret));
			deleted = (int64) SPI_processed;
		}
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			names[i] = CStringGetTextDatum(t->display);
			counts[i] = Int64GetDatum(deleted);
			MemoryContextSwitchTo(old);
		}
		i++;
	}
	SPI_finish();

	/* the extension's data, as its owner */
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	{
		char	   *pseudonym = SubjectPseudonym(VARDATA_ANY(subject),
												 VARSIZE_ANY_EXHDR(subject));
		Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID, INT8OID};
		Datum		values[5];
		int			ret;
		int64		pseudonymized = 0;

		values[0] = PointerGetDatum(subject);
		values[1] = CStringGetTextDatum(pseudonym);
		values[2] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[3] = PointerGetDatum(construct_array(counts, ntables, INT8OID,
													8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

		LedgerBeginErasure();
		PG_TRY();
		{
			ret = SPI_execute_with_args(
				"UPDATE personalize.consent_event SET subject = $2"
				" WHERE subject OPERATOR(pg_catalog.=) $1",
				2, argtypes, values, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "could not pseudonymize consent history: %s",
					 SPI_result_code_string(ret));
			pseudonymized = (int64) SPI_processed;
			values[4] = Int64GetDatum(pseudonymized);
		}
		PG_FINALLY();
		{
			LedgerEndErasure();
		}
		PG_END_TRY();

		result = spi_value(
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
			"  'forget_event_id', (SELECT event_id FROM e))",
			5, argtypes, values, false, cxt, &isnull);
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);
	PG_RETURN_DATUM(result);
}
