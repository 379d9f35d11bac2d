/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Column classification: the "personalize" security label provider.
 *
 *	  SECURITY LABEL FOR personalize ON COLUMN t.c IS 'user.contact.email'
 *
 * classifies a column with a data category of personalize.data_category.
 * The provider is registered whenever the library is loaded, preloaded or
 * not.  The relabel hook validates strictly: only columns of ordinary or
 * partitioned tables outside the system catalogs, only well-formed names of
 * known categories; and a relabel that would leave a consent view showing a
 * column its purpose no longer allows is refused, so a reclassification
 * never exposes a column silently.
 *
 * Two situations relax the check for unknown categories: a binary upgrade
 * (the extension's tables are still empty), and a restore, recognized the
 * way core recognizes it for function bodies: check_function_bodies = off,
 * which pg_dump's output sets.  pg_dump emits a table's labels before the
 * data of the categories users defined; review() reports a label whose
 * category is still unknown afterwards.
 *
 * This file also defines the GUCs of classification and review, and
 * _added_columns(), which tells the DDL review event trigger which columns a
 * command added.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/classify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "access/xact.h"
#include "commands/seclabel.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/deparse_utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "classify.h"
#include "personalize.h"

PG_FUNCTION_INFO_V1(personalize_added_columns);
PG_FUNCTION_INFO_V1(personalize_view_source_columns);
PG_FUNCTION_INFO_V1(personalize_review_ddl_level);
PG_FUNCTION_INFO_V1(personalize_on_security_label);
PG_FUNCTION_INFO_V1(personalize_require_classification);

/*
 * Columns that review_ddl = error requires to be classified by the end of
 * the transaction, checked at pre-commit.  Allocated in
 * TopTransactionContext, so an abort forgets them with everything else.
 */
typedef struct PendingColumn
{
	Oid			relid;
	AttrNumber	attnum;
	char	   *category;
} PendingColumn;

static List *pending_columns = NIL;
static bool xact_callback_registered = false;

/* GUC personalize.unclassified_columns */
int			unclassified_columns = UNCLASSIFIED_HIDE;

static const struct config_enum_entry unclassified_options[] = {
	{"hide", UNCLASSIFIED_HIDE, false},
	{"show", UNCLASSIFIED_SHOW, false},
	{NULL, 0, false}
};

/* GUC personalize.review_ddl */
int			review_ddl = REVIEW_DDL_NOTICE;

static const struct config_enum_entry review_ddl_options[] = {
	{"off", REVIEW_DDL_OFF, false},
	{"notice", REVIEW_DDL_NOTICE, false},
	{"warning", REVIEW_DDL_WARNING, false},
	{"error", REVIEW_DDL_ERROR, false},
	{NULL, 0, false}
};

/*
 * Is the label a syntactically valid category name?
 */
static bool
category_name_valid(const char *s)
{
	bool		segment_start = true;

	if (*s == '\0')
		return false;
	for (; *s; s++)
	{
		if (segment_start)
		{
			if (!(*s >= 'a' && *s <= 'z'))
				return false;
			segment_start = false;
		}
		else if (*s == '.')
			segment_start = true;
		else if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return !segment_start;
}

/*
 * Run a one-value query as the extension's owner and return its text, or
 * NULL.  Used for the lookups of the relabel hook, whose caller may not be
 * able to read the extension's registries.
 */
static char *
owner_query_text(const char *query, int nargs, Oid *argtypes, Datum *values,
				 const char *nulls)
{
	OwnerSwitch sw;
	char	   *result = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	int			ret;

	PersonalizeBecomeOwner(&sw);
	SPI_connect();
	ret = SPI_execute_with_args(query, nargs, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			result = MemoryContextStrdup(cxt, v);
	}
	SPI_finish();
	PersonalizeRestoreUser(&sw);
	return result;
}

/*
 * The label hook: validate a classification before it is stored.
 */
static void
classify_object_relabel(const ObjectAddress *object, const char *seclabel)
{
	Oid			relid = object->objectId;
	char		relkind;
	char	   *relname;
	Oid			argtypes[3] = {OIDOID, INT2OID, TEXTOID};
	Datum		values[3];
	char	   *conflict;
	const char *nulls;

	if (object->classId != RelationRelationId || object->objectSubId == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("personalize labels apply to columns of tables only"),
				 errhint("Label a column: SECURITY LABEL FOR personalize ON COLUMN orders.email IS 'user.contact.email'.")));

	relname = get_rel_name(relid);
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot classify a column of \"%s\"", relname),
				 errdetail("\"%s\" is not a table; only the columns of tables are classified.", relname),
				 errhint("Classify the column of the table the data is stored in.")));
	if (IsCatalogRelationOid(relid) || IsCatalogNamespace(get_rel_namespace(relid)) ||
		IsToastNamespace(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot classify a column of system catalog \"%s\"", relname)));

	if (seclabel != NULL && !category_name_valid(seclabel))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid data category label \"%s\"", seclabel),
				 errhint("A label is the name of a data category, such as \"user.contact.email\"; see personalize.data_category.")));

	/* binary upgrade: the extension's tables are not filled in yet */
	if (IsBinaryUpgrade)
		return;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum((int16) object->objectSubId);
	values[2] = seclabel ? CStringGetTextDatum(seclabel) : (Datum) 0;
	nulls = seclabel ? "   " : "  n";

	if (seclabel != NULL &&
		owner_query_text("SELECT name FROM personalize.data_category"
						 " WHERE name OPERATOR(pg_catalog.=) $3",
						 3, argtypes, values, nulls) == NULL)
	{
		/* a restore loads the categories users defined after the labels */
		if (!check_function_bodies)
			return;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("data category \"%s\" does not exist", seclabel),
				 errhint("Closest known categories: %s. Add one with personalize.define_category().",
						 owner_query_text("SELECT personalize._closest_categories($3)",
										  3, argtypes, values, nulls))));
	}

	/* never expose a column silently: check the consent views showing it */
	conflict = owner_query_text(
		"SELECT pg_catalog.format('%s|%s', v.view, p.name)"
		"  FROM personalize.consent_view v"
		"  JOIN personalize.purpose p USING (purpose_id)"
		" WHERE v.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
		"   AND EXISTS (SELECT 1 FROM personalize._view_source_columns(v.view) s"
		"                WHERE s.source_attnum OPERATOR(pg_catalog.=) $2)"
		"   AND NOT personalize._column_allowed(v.purpose_id, $3)"
		" ORDER BY 1 LIMIT 1",
		3, argtypes, values, nulls);
	if (conflict != NULL)
	{
		char	   *sep = strchr(conflict, '|');

		*sep = '\0';
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("column \"%s\" of \"%s\" is shown by consent view %s",
						get_attname(relid, object->objectSubId, false), relname, conflict),
				 errdetail(seclabel ?
						   "Purpose \"%s\" does not allow data category \"%s\", so the view would expose the column." :
						   "Purpose \"%s\" does not allow unclassified columns%s, so the view would expose the column.",
						   sep + 1, seclabel ? seclabel : ""),
				 errhint("Drop the view with personalize.drop_consent_view(), classify the column, and create the view again.")));
	}
}

/*
 * Register the label provider and define the GUCs of classification and
 * review.  Called by _PG_init, also under binary upgrade: pg_upgrade
 * restores labels.
 */
void
ClassifyInit(void)
{
	register_label_provider("personalize", classify_object_relabel);

	DefineCustomEnumVariable("personalize.unclassified_columns",
							 gettext_noop("Whether create_consent_view() shows columns that have no data category."),
							 gettext_noop("\"hide\" (privacy by default) leaves them out; \"show\" includes them."),
							 &unclassified_columns,
							 UNCLASSIFIED_HIDE,
							 unclassified_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("personalize.review_ddl",
							 gettext_noop("How DDL that adds a column that looks like personal data is reported."),
							 gettext_noop("off, notice, warning, or error (which blocks the command)."),
							 &review_ddl,
							 REVIEW_DDL_NOTICE,
							 review_ddl_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}

/*
 * _added_columns(command pg_ddl_command) RETURNS int2[]
 *
 * For the DDL review event trigger: the attribute numbers a command added
 * to a table.  CREATE TABLE, CREATE TABLE AS and SELECT INTO add every
 * column: NULL.  ALTER TABLE: the columns of its ADD COLUMN subcommands (an
 * empty array when there are none).
 */
Datum
personalize_added_columns(PG_FUNCTION_ARGS)
{
	CollectedCommand *cmd = (CollectedCommand *) PG_GETARG_POINTER(0);
	Datum	   *attnums;
	int			n = 0;
	ListCell   *lc;

	if (cmd->type != SCT_AlterTable)
		PG_RETURN_NULL();

	attnums = palloc(sizeof(Datum) * (list_length(cmd->d.alterTable.subcmds) + 1));
	foreach(lc, cmd->d.alterTable.subcmds)
	{
		CollectedATSubcmd *sub = (CollectedATSubcmd *) lfirst(lc);
		AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;

		if (IsA(at, AlterTableCmd) &&
			(at->subtype == AT_AddColumn
#if PG_VERSION_NUM < 160000
			 || at->subtype == AT_AddColumnRecurse
#endif
			 ) &&
			sub->address.classId == RelationRelationId &&
			sub->address.objectSubId > 0)
			attnums[n++] = Int16GetDatum((int16) sub->address.objectSubId);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(attnums, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/*
 * _view_source_columns(view regclass)
 *		RETURNS TABLE (view_column name, source_attnum int2)
 *
 * Which columns of its source a consent view shows: each output column that
 * is a plain column of the view's single base relation.  Read from the
 * view's query tree, so renames on either side do not matter.
 */
Datum
personalize_view_source_columns(PG_FUNCTION_ARGS)
{
	Oid			viewid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	view;
	Query	   *query;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);

	if (get_rel_relkind(viewid) != RELKIND_VIEW)
		PG_RETURN_VOID();
	view = table_open(viewid, AccessShareLock);
	query = get_view_query(view);
	foreach(lc, query->targetList)
	{
		TargetEntry *te = (TargetEntry *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (te->resjunk || !IsA(te->expr, Var))
			continue;
		if (((Var *) te->expr)->varlevelsup != 0 || ((Var *) te->expr)->varattno <= 0)
			continue;
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(te->resname));
		values[1] = Int16GetDatum(((Var *) te->expr)->varattno);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	table_close(view, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * _review_ddl_level(): the effective personalize.review_ddl, for the DDL
 * review event trigger (calling it also loads the library, which defines
 * the setting).
 */
Datum
personalize_review_ddl_level(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(review_ddl_options[review_ddl].name));
}

/*
 * At pre-commit: every column the DDL review required to be classified must
 * be, or be gone.  Raising an error here aborts the transaction.
 */
static void
review_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	ListCell   *lc;
	List	   *pending = pending_columns;

	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		pending_columns = NIL;
		return;
	}
	if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
		return;

	pending_columns = NIL;
	foreach(lc, pending)
	{
		PendingColumn *pc = (PendingColumn *) lfirst(lc);
		ObjectAddress addr;
		HeapTuple	tup;
		char	   *attname;
		bool		dropped;

		tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(pc->relid),
							  Int16GetDatum(pc->attnum));
		if (!HeapTupleIsValid(tup))
			continue;			/* the table is gone */
		dropped = ((Form_pg_attribute) GETSTRUCT(tup))->attisdropped;
		attname = pstrdup(NameStr(((Form_pg_attribute) GETSTRUCT(tup))->attname));
		ReleaseSysCache(tup);
		if (dropped)
			continue;			/* the column is gone */
		ObjectAddressSubSet(addr, RelationRelationId, pc->relid, pc->attnum);
		if (GetSecurityLabel(&addr, "personalize") != NULL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("column \"%s\" of table \"%s\" looks like personal data (%s) and is not classified",
						attname, get_rel_name(pc->relid), pc->category),
				 errdetail("personalize.review_ddl is \"error\": a column that looks like personal data must be classified in the transaction that adds it."),
				 errhint("Classify it before COMMIT: SECURITY LABEL FOR personalize ON COLUMN %s.%s IS '%s'; drop it; or, if it holds no personal data, classify it as 'system.operations'.",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(pc->relid)),
													get_rel_name(pc->relid)),
						 quote_identifier(attname), pc->category)));
	}
}

/*
 * _require_classification(tbl, attnum, category): with review_ddl = error,
 * the column must be classified before the transaction commits.
 */
Datum
personalize_require_classification(PG_FUNCTION_ARGS)
{
	MemoryContext old;
	PendingColumn *pc;

	if (!xact_callback_registered)
	{
		RegisterXactCallback(review_xact_callback, NULL);
		xact_callback_registered = true;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	pc = palloc(sizeof(PendingColumn));
	pc->relid = PG_GETARG_OID(0);
	pc->attnum = PG_GETARG_INT16(1);
	pc->category = text_to_cstring(PG_GETARG_TEXT_PP(2));
	pending_columns = lappend(pending_columns, pc);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * Event trigger at the start of SECURITY LABEL.  Calling it loads the
 * library, whose _PG_init registers the label provider, so
 * SECURITY LABEL FOR personalize works in every session of a database that
 * has the extension, preloaded or not.  Nothing else to do.
 */
Datum
personalize_on_security_label(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	PG_RETURN_VOID();
}
