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
 Two situations relax the check for unknown categories: a binary upgrade
 * (the extension's tables are still empty), and a restore.  pg_dump emits a
 * table's labels before the data of the categories users defined, and its
 * output sets check_function_bodies = off, as core recognizes a restore for
 * function bodies.  Since every role may set that, it only relaxes a
 * policy for a superuser, who could switch the policy off anyway: a
 * superuser's restore skips the check (review() reports a label whose
 * category is still unknown afterwards), any other role's label is checked
 * at commit instead, so a restore in one transaction (pg_restore
 * --single-transaction, psql -1) passes and nothing else gets by.
 *
 * This file also defines the GUCs of classification and review, and
 * _added_columns(), which tells the DDL review event trigger which columns a
 * command added.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/review/classify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
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
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"
#include "review/review.h"

PG_FUNCTION_INFO_V1(personalize_added_columns);
PG_FUNCTION_INFO_V1(personalize_review_ddl_level);
PG_FUNCTION_INFO_V1(personalize_on_security_label);
PG_FUNCTION_INFO_V1(personalize_require_classification);

/* values of personalize.unclassified_columns */
typedef enum
{
	UNCLASSIFIED_HIDE,
	UNCLASSIFIED_SHOW
} UnclassifiedColumns;

/* values of personalize.review_ddl */
typedef enum
{
	REVIEW_DDL_OFF,
	REVIEW_DDL_NOTICE,
	REVIEW_DDL_WARNING,
	REVIEW_DDL_ERROR
} ReviewDdl;

/*
 * Checks deferred to pre-commit: a column that review_ddl = error requires
 * to be classified by the end of the transaction, or (during a restore by a
 * role other than a superuser) a label whose category must exist by then.
 * Allocated in TopTransactionContext, so an abort forgets them with
 * everything else.
 */
typedef enum PendingKind
{
	PENDING_CLASSIFICATION,
	PENDING_CATEGORY
} PendingKind;

typedef struct PendingColumn
{
	PendingKind kind;
	Oid			relid;
	AttrNumber	attnum;
	char	   *category;
} PendingColumn;

static List *pending_columns = NIL;
static bool xact_callback_registered = false;

/* GUC personalize.unclassified_columns (read by SQL: _column_allowed) */
static int	unclassified_columns = UNCLASSIFIED_HIDE;

static const struct config_enum_entry unclassified_options[] = {
	{"hide", UNCLASSIFIED_HIDE, false},
	{"show", UNCLASSIFIED_SHOW, false},
	{NULL, 0, false}
};

/* GUC personalize.review_ddl */
static int	review_ddl = REVIEW_DDL_NOTICE;

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

static void defer_check(PendingKind kind, Oid relid, AttrNumber attnum,
						const char *category);

/*
 * The error for a label that names an unknown category.
 */
static void
unknown_category_error(const char *category)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(category);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("data category \"%s\" does not exist", category),
			 errhint("Closest known categories: %s. Add one with personalize.define_category().",
					 ExtValueText("SELECT personalize._closest_categories($1)",
								  1, argtypes, values, NULL, true))));
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
	if (object->objectSubId < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot classify system column \"%s\" of \"%s\"",
						get_attname(relid, object->objectSubId, false), relname),
				 errdetail("System columns hold no data of the table's subjects.")));
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

	/*
	 * A Citus node being added receives the coordinator's tables, labels
	 * and all, over Citus's own connections, and may receive them before
	 * the extension (when it was created after the tables): validated on
	 * the coordinator.
	 */
	if (!OidIsValid(get_extension_oid("personalize", true)) &&
		PersonalizeCitusInternalBackend())
		return;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum((int16) object->objectSubId);
	values[2] = seclabel ? CStringGetTextDatum(seclabel) : (Datum) 0;
	nulls = seclabel ? "   " : "  n";

	if (seclabel != NULL &&
		ExtValueText("SELECT name FROM personalize.data_category"
					 " WHERE name OPERATOR(pg_catalog.=) $3",
					 3, argtypes, values, nulls, true) == NULL)
	{
		/* a restore loads the categories users defined after the labels */
		if (PersonalizeTrustedRestore())
			return;
		if (!check_function_bodies)
		{
			defer_check(PENDING_CATEGORY, relid, object->objectSubId, seclabel);
			return;
		}
		unknown_category_error(seclabel);
	}

	/* never expose a column silently: check the consent views showing it */
	conflict = ExtValueText(
		"SELECT pg_catalog.format('%s|%s', v.view, p.name)"
		"  FROM personalize.consent_view v"
		"  JOIN personalize.purpose p USING (purpose_id)"
		" WHERE v.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
		"   AND EXISTS (SELECT 1 FROM personalize._view_source_columns(v.view) s"
		"                WHERE s.source_attnum OPERATOR(pg_catalog.=) $2)"
		"   AND NOT personalize._column_allowed(v.purpose_id, $3)"
		" ORDER BY 1 LIMIT 1",
		3, argtypes, values, nulls, true);
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
ReviewInit(void)
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

		if (IsA(at, AlterTableCmd) && PersonalizeIsAddColumn(at->subtype) &&
			sub->address.classId == RelationRelationId &&
			sub->address.objectSubId > 0)
			attnums[n++] = Int16GetDatum((int16) sub->address.objectSubId);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(attnums, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/*
 * _review_ddl_level(): the effective personalize.review_ddl, for the DDL
 * review event trigger: "off" during a superuser's restore (calling it also
 * loads the library, which defines the setting).
 */
Datum
personalize_review_ddl_level(PG_FUNCTION_ARGS)
{
	if (PersonalizeTrustedRestore())
		PG_RETURN_TEXT_P(cstring_to_text("off"));
	PG_RETURN_TEXT_P(cstring_to_text(review_ddl_options[review_ddl].name));
}

/*
 * The name of a column that is still there, or NULL.
 */
static char *
live_column_name(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
									  Int16GetDatum(attnum));
	char	   *attname = NULL;

	if (!HeapTupleIsValid(tup))
		return NULL;			/* the table is gone */
	if (!((Form_pg_attribute) GETSTRUCT(tup))->attisdropped)
		attname = pstrdup(NameStr(((Form_pg_attribute) GETSTRUCT(tup))->attname));
	ReleaseSysCache(tup);
	return attname;
}

/*
 * At pre-commit: every column the DDL review required to be classified must
 * be, or be gone; every label whose check was deferred must name a known
 * category.  Raising an error here aborts the transaction.
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
		char	   *attname = live_column_name(pc->relid, pc->attnum);
		char	   *label;

		if (attname == NULL)
			continue;
		ObjectAddressSubSet(addr, RelationRelationId, pc->relid, pc->attnum);
		label = GetSecurityLabel(&addr, "personalize");
		if (pc->kind == PENDING_CATEGORY)
		{
			Oid			argtypes[1] = {TEXTOID};
			Datum		values[1];
			bool		known;

			if (label == NULL)
				continue;		/* the label was removed */
			values[0] = CStringGetTextDatum(label);
			PushActiveSnapshot(GetTransactionSnapshot());
			known = ExtValueText("SELECT name FROM personalize.data_category"
								 " WHERE name OPERATOR(pg_catalog.=) $1",
								 1, argtypes, values, NULL, true) != NULL;
			if (!known)
				unknown_category_error(label);
			PopActiveSnapshot();
			continue;
		}
		if (label != NULL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("column \"%s\" of table \"%s\" looks like personal data (%s) and is not classified",
						attname, get_rel_name(pc->relid), pc->category),
				 errdetail("The DDL review is set to \"error\" (personalize.review_ddl): a column that looks like personal data must be classified in the transaction that adds it."),
				 errhint("Classify it before COMMIT: SECURITY LABEL FOR personalize ON COLUMN %s.%s IS '%s'; drop it; or, if it holds no personal data, classify it as 'system.operations'.",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(pc->relid)),
													get_rel_name(pc->relid)),
						 quote_identifier(attname), pc->category)));
	}
}

/*
 * Remember a check for pre-commit.
 */
static void
defer_check(PendingKind kind, Oid relid, AttrNumber attnum, const char *category)
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
	pc->kind = kind;
	pc->relid = relid;
	pc->attnum = attnum;
	pc->category = pstrdup(category);
	pending_columns = lappend(pending_columns, pc);
	MemoryContextSwitchTo(old);
}

/*
 * _require_classification(tbl, attnum, category): with review_ddl = error,
 * the column must be classified before the transaction commits.
 */
Datum
personalize_require_classification(PG_FUNCTION_ARGS)
{
	defer_check(PENDING_CLASSIFICATION, PG_GETARG_OID(0), PG_GETARG_INT16(1),
				text_to_cstring(PG_GETARG_TEXT_PP(2)));
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
