/*-------------------------------------------------------------------------
 *
 * views.c
 *	  Consent-checked views: create_consent_view().
 *
 * A consent view shows a registered table to the analysts of one purpose:
 * only the rows of subjects who have consent for the purpose at query time,
 * and only the columns whose data categories the purpose names.
 *
 *	CREATE VIEW <name> WITH (security_barrier) AS
 *		SELECT t.<allowed columns> FROM <source> t
 *		 WHERE personalize.has_consent(t.<subject column>, '<purpose>');
 *
 * Which columns are allowed is personalize._column_allowed(): a column
 * classified with category C is shown if the purpose names C, or an
 * ancestor of C at least as sensitive as C (so a sensitive or special
 * column needs a purpose that names sensitive data); an unclassified column
 * follows personalize.unclassified_columns (hide by default).
 *
 * The view is created by, and owned by, the caller, who must be able to read
 * the source table; analysts then need SELECT on the view only.  The view is
 * a security barrier: an analyst's functions in WHERE run after the consent
 * filter unless they are leakproof.  The column list is fixed when the view
 * is created: a column added to the source later is not shown, and
 * classify.c refuses a reclassification that would leave the view showing a
 * column its purpose does not allow.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/views.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

#include "personalize.h"

PG_FUNCTION_INFO_V1(personalize_create_consent_view);

/*
 * The has_consent() argument for a subject column: integer keys use the
 * bigint entry point and uuid keys their own, so no row pays a conversion
 * to text; other types are converted.
 */
static const char *
subject_argument(const char *column, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
			return psprintf("t.%s::pg_catalog.int8", column);
		case INT8OID:
		case UUIDOID:
		case TEXTOID:
			return psprintf("t.%s", column);
		default:
			return psprintf("t.%s::pg_catalog.text", column);
	}
}

/*
 * create_consent_view(view_name text, source regclass, purpose text)
 *		RETURNS regclass
 */
Datum
personalize_create_consent_view(PG_FUNCTION_ARGS)
{
	char	   *view_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			source = PG_GETARG_OID(1);
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *relname = get_rel_name(source);
	List	   *names;
	char	   *qualified_view;
	char	   *qualified_source;
	char	   *subject_column = NULL;
	Oid			subject_type = InvalidOid;
	int			purpose_id = 0;
	StringInfoData columns;
	StringInfoData query;
	int			ncolumns = 0;
	OwnerSwitch sw;
	int			ret;
	Oid			viewid;
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));

	/* the name, as SQL would read it: [schema.]name, quoted where needed */
	names = stringToQualifiedNameList(view_name);
	if (list_length(names) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("improper view name (too many dotted names): %s", view_name)));
	qualified_view = list_length(names) == 2 ?
		quote_qualified_identifier(strVal(linitial(names)), strVal(lsecond(names))) :
		pstrdup(quote_identifier(strVal(linitial(names))));
	qualified_source = quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
												  relname);

	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", relname),
				 errdetail("A consent view reads its table with the rights of the role that creates it."),
				 errhint("Create the view as the table's owner or a role that can read the table.")));

	/* purpose, registration and columns: read as the extension's owner */
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	{
		Oid			argtypes[2] = {TEXTOID, OIDOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(purpose);
		values[1] = ObjectIdGetDatum(source);
		ret = SPI_execute_with_args("SELECT purpose_id FROM personalize.purpose"
									" WHERE name OPERATOR(pg_catalog.=) $1",
									2, argtypes, values, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("purpose \"%s\" does not exist", purpose),
					 errhint("Define it with define_purpose(); the purposes are listed in personalize.purpose.")));
		purpose_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));

		ret = SPI_execute_with_args("SELECT s.subject_column::pg_catalog.text, a.atttypid"
									"  FROM personalize.subject_table s"
									"  JOIN pg_catalog.pg_attribute a"
									"    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::pg_catalog.oid"
									"   AND a.attname OPERATOR(pg_catalog.=) s.subject_column"
									" WHERE s.relid OPERATOR(pg_catalog.=) $2::pg_catalog.regclass",
									2, argtypes, values, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not registered", relname),
					 errhint("Register it with personalize.register_table(), naming the column that identifies the subject.")));
		subject_column = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1));
		subject_type = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 2,
													  &isnull));

		values[0] = Int32GetDatum(purpose_id);
		argtypes[0] = INT4OID;
		ret = SPI_execute_with_args("SELECT a.attname::pg_catalog.text"
									"  FROM pg_catalog.pg_attribute a"
									"  LEFT JOIN pg_catalog.pg_seclabel l"
									"    ON l.objoid OPERATOR(pg_catalog.=) a.attrelid"
									"   AND l.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
									"   AND l.objsubid OPERATOR(pg_catalog.=) a.attnum"
									"   AND l.provider OPERATOR(pg_catalog.=) 'personalize'"
									" WHERE a.attrelid OPERATOR(pg_catalog.=) $2"
									"   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped"
									"   AND personalize._column_allowed($1, l.label)"
									" ORDER BY a.attnum",
									2, argtypes, values, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read the columns of \"%s\"", relname);
		initStringInfo(&columns);
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			for (uint64 i = 0; i < SPI_processed; i++)
			{
				appendStringInfo(&columns, "%st.%s", i > 0 ? ", " : "",
								 quote_identifier(SPI_getvalue(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc, 1)));
				ncolumns++;
			}
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);

	if (ncolumns == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("purpose \"%s\" allows no column of table \"%s\"", purpose, relname),
				 errdetail("A column is shown when the purpose names its data category; unclassified columns are hidden unless personalize.unclassified_columns is \"show\"."),
				 errhint("Classify the columns the purpose needs, or name their categories in the purpose.")));

	/* the view, created as the caller, who owns it */
	initStringInfo(&query);
	appendStringInfo(&query,
					 "CREATE VIEW %s WITH (security_barrier) AS SELECT %s FROM %s t"
					 " WHERE personalize.has_consent(%s, %s)",
					 qualified_view, columns.data, qualified_source,
					 subject_argument(quote_identifier(subject_column), subject_type),
					 quote_literal_cstr(purpose));
	SPI_connect();
	ret = SPI_execute(query.data, false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not create view: %s", SPI_result_code_string(ret));
	SPI_finish();
	viewid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, false);

	/* the registry, as the extension's owner */
	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	{
		Oid			argtypes[4] = {OIDOID, OIDOID, INT4OID, NAMEOID};
		Datum		values[4];

		values[0] = ObjectIdGetDatum(viewid);
		values[1] = ObjectIdGetDatum(source);
		values[2] = Int32GetDatum(purpose_id);
		values[3] = DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(sw.save_userid, false)));
		ret = SPI_execute_with_args("INSERT INTO personalize.consent_view"
									" (view, source, purpose_id, created_by)"
									" VALUES ($1, $2, $3, $4)",
									4, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not register consent view: %s", SPI_result_code_string(ret));
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);

	PG_RETURN_OID(viewid);
}
