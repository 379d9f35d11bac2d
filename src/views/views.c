/*-------------------------------------------------------------------------
 *
 * views.c
 *	  Consent-checked views: create_consent_view(), and what review() needs
 *	  to tell whether a consent view is still one.
 *
 * A consent view shows a registered table to the analysts of one purpose:
 * only the rows of subjects whose data may be used for the purpose at query
 * time, and only the columns whose data categories the purpose names.
 *
 *	CREATE VIEW <name> WITH (security_barrier) AS
 *		SELECT t.<allowed columns> FROM <source> t
 *		 WHERE personalize.has_consent(<subject column>, '<purpose>');
 *
 * For a purpose whose lawful basis is not consent the check is
 * personalize.may_process() (no objection), which for a consent purpose
 * means the same as has_consent(); review() accepts either.
 *
 * Which columns are allowed is personalize._column_allowed(): a column
 * classified with category C is shown if the purpose names C, or an
 * ancestor of C at least as sensitive as C (so a sensitive or special
 * column needs a purpose that names sensitive data); an unclassified column
 * follows personalize.unclassified_columns (hide by default).
 *
 * The view is created by, and owned by, the caller, who must be able to read
 * the source table; analysts then need SELECT on the view only.
 *
 * On a Citus distributed or reference table the view has another form:
 *
 *	CREATE VIEW <name> WITH (security_barrier) AS
 *		SELECT r.<allowed columns>
 *		  FROM personalize._consent_view_rows('<name>') AS r(<columns and types>);
 *
 * Citus runs a query's shard statements on the workers as the role that
 * queries, so a plain view over a distributed table needs SELECT on the
 * table's shards from every analyst.  _consent_view_rows() runs the same
 * SELECT ... WHERE has_consent() as the view's owner (in a restricted
 * security context), for a role with SELECT on the view, and returns only
 * columns the view has: an analyst calling it directly gets what the view
 * shows and nothing more.  The view names itself as text, so that pg_dump
 * restores it; a renamed view stops with an error.  The view is
 * a security barrier: an analyst's functions in WHERE run after the consent
 * filter unless they are leakproof.  The subject column reaches has_consent()
 * without any cast a user could have defined: bigint, uuid and text as they
 * are, other types through their output function (format('%s')), so reading
 * the view never runs code of the table's owner.  The column list is fixed
 * when the view is created; review/classify.c refuses a reclassification that would
 * leave the view showing a column its purpose does not allow, and review()
 * reports a view its owner redefined (_consent_view_problem()).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/views/views.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "views/views.h"
#include "consent/consent.h"

PG_FUNCTION_INFO_V1(personalize_create_consent_view);
PG_FUNCTION_INFO_V1(personalize_view_source_columns);
PG_FUNCTION_INFO_V1(personalize_consent_view_problem);
PG_FUNCTION_INFO_V1(personalize_consent_view_rows);

static Index view_rows_rte(Query *query, char **named);
static Oid	consent_view_source(Oid viewid);

typedef struct ViewColumns
{
	StringInfoData list;		/* t.a, t.b, ... */
	int			n;
	List	   *names;			/* the column names */
} ViewColumns;

static void
allowed_column(HeapTuple tuple, TupleDesc desc, void *arg)
{
	ViewColumns *vc = (ViewColumns *) arg;

	char	   *name = SPI_getvalue(tuple, desc, 1);

	appendStringInfo(&vc->list, "%st.%s", vc->n > 0 ? ", " : "",
					 quote_identifier(name));
	vc->names = lappend(vc->names, name);
	vc->n++;
}

typedef struct Registration
{
	char	   *column;
	Oid			typid;
} Registration;

static void
registration_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Registration *r = (Registration *) arg;
	bool		isnull;

	r->column = SPI_getvalue(tuple, desc, 1);
	r->typid = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
}

/*
 * create_consent_view(view_name text, source regclass, purpose text)
 *		RETURNS regclass
 */
Datum
personalize_create_consent_view(PG_FUNCTION_ARGS)
{
	char	   *view_name;
	Oid			source;
	char	   *purpose;
	char	   *relname;
	List	   *names;
	RangeVar   *rv;
	Oid			nspid;
	char	   *qualified_view;
	char	   *qualified_source;
	Registration reg = {NULL, InvalidOid};
	int32		purpose_id;
	const char *check;
	ViewColumns vc;
	StringInfoData query;
	int			ret;
	Oid			viewid;
	Oid			argtypes[4] = {INT4OID, OIDOID, OIDOID, NAMEOID};
	Datum		values[4];
	CitusTableKind citus;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("view name, source and purpose must not be null")));
	view_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = PG_GETARG_OID(1);
	purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	relname = get_rel_name(source);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", source)));

	/* the name, as SQL would read it: [schema.]name, quoted where needed */
	names = PersonalizeQualifiedNameList(view_name);
	if (list_length(names) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("improper view name (too many dotted names): %s", view_name)));
	rv = makeRangeVarFromNameList(names);
	nspid = RangeVarGetCreationNamespace(rv);
	if (isAnyTempNamespace(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot create a consent view in a temporary schema"),
				 errdetail("A temporary view disappears without a trace in the registry of consent views."),
				 errhint("Create it in a permanent schema.")));
	qualified_view = quote_qualified_identifier(get_namespace_name(nspid), rv->relname);
	qualified_source = quote_qualified_identifier(get_namespace_name(get_rel_namespace(source)),
												  relname);

	/* distributed and reference tables: through _consent_view_rows() */
	citus = PersonalizeCitusTableKind(source);
	if (citus == CITUS_OTHER)
		PersonalizeRefuseCitusTable(source, "create_consent_view()");
	if (pg_class_aclcheck(source, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", relname),
				 errdetail("A consent view reads its table with the rights of the role that creates it."),
				 errhint("Create the view as the table's owner or a role that can read the table.")));

	/* purpose, registration and columns: read as the extension's owner */
	purpose_id = PurposeId(purpose);
	check = strcmp(PurposeLawfulBasis(purpose), LAWFUL_BASIS_CONSENT) == 0 ?
		"has_consent" : "may_process";
	values[0] = Int32GetDatum(purpose_id);
	values[1] = ObjectIdGetDatum(source);
	if (ExtExecute("SELECT s.subject_column::pg_catalog.text, a.atttypid"
				   "  FROM personalize.subject_table s"
				   "  JOIN pg_catalog.pg_attribute a"
				   "    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::pg_catalog.oid"
				   "   AND a.attname OPERATOR(pg_catalog.=) s.subject_column"
				   " WHERE s.relid OPERATOR(pg_catalog.=) $2::pg_catalog.regclass",
				   2, argtypes, values, NULL, true, registration_row, &reg) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not registered", relname),
				 errhint("Register it with personalize.register_table(), naming the column that identifies the subject.")));

	initStringInfo(&vc.list);
	vc.n = 0;
	vc.names = NIL;
	(void) ExtExecute("SELECT a.attname::pg_catalog.text"
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
					  2, argtypes, values, NULL, true, allowed_column, &vc);
	if (vc.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("purpose \"%s\" allows no column of table \"%s\"", purpose, relname),
				 errdetail("A column is shown when the purpose names its data category; unclassified columns are hidden unless personalize.unclassified_columns is \"show\"."),
				 errhint("Classify the columns the purpose needs, or name their categories in the purpose.")));

	/* the view, created as the caller, who owns it */
	initStringInfo(&query);
	if (citus != CITUS_NONE)
	{
		StringInfoData cols;
		StringInfoData defs;
		ListCell   *lc;

		initStringInfo(&cols);
		initStringInfo(&defs);
		foreach(lc, vc.names)
		{
			const char *name = (const char *) lfirst(lc);
			AttrNumber	attnum = get_attnum(source, name);
			Oid			typid;
			int32		typmod;
			Oid			collid;

			get_atttypetypmodcoll(source, attnum, &typid, &typmod, &collid);
			appendStringInfo(&cols, "%sr.%s", cols.len > 0 ? ", " : "", quote_identifier(name));
			appendStringInfo(&defs, "%s%s %s", defs.len > 0 ? ", " : "", quote_identifier(name),
							 format_type_with_typemod(typid, typmod));
			if (OidIsValid(collid) && collid != get_typcollation(typid))
				appendStringInfo(&defs, " COLLATE %s", generate_collation_name(collid));
		}
		appendStringInfo(&query,
						 "CREATE VIEW %s WITH (security_barrier) AS SELECT %s"
						 " FROM personalize._consent_view_rows(%s) AS r(%s)",
						 qualified_view, cols.data, quote_literal_cstr(qualified_view), defs.data);
	}
	else
		appendStringInfo(&query,
						 "CREATE VIEW %s WITH (security_barrier) AS SELECT %s FROM %s t"
						 " WHERE personalize.%s(%s, %s)",
						 qualified_view, vc.list.data, qualified_source, check,
						 SubjectArgument("t.", quote_identifier(reg.column), reg.typid),
						 quote_literal_cstr(purpose));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute(query.data, false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "could not create view: %s", SPI_result_code_string(ret));
	SPI_finish();
	/* the view just made, in its schema: not a temporary table of that name */
	viewid = get_relname_relid(rv->relname, nspid);
	if (!OidIsValid(viewid))
		elog(ERROR, "could not find view %s just created", qualified_view);

	/* the registry, as the extension's owner */
	values[0] = Int32GetDatum(purpose_id);
	values[1] = ObjectIdGetDatum(viewid);
	values[2] = ObjectIdGetDatum(source);
	values[3] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	(void) ExtExecute("INSERT INTO personalize.consent_view"
					  " (view, source, purpose_id, created_by)"
					  " VALUES ($2, $3, $1, $4)",
					  4, argtypes, values, NULL, false, NULL, NULL);
	PG_RETURN_OID(viewid);
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
	{
		/* the Citus form: the columns of _consent_view_rows(), by name */
		char	   *named;
		Index		rows_varno = view_rows_rte(query, &named);
		Oid			source = rows_varno ? consent_view_source(viewid) : InvalidOid;

		foreach(lc, query->targetList)
		{
			TargetEntry *te = (TargetEntry *) lfirst(lc);
			Datum		values[2];
			bool		nulls[2] = {false, false};
			AttrNumber	attnum;

			if (te->resjunk || !IsA(te->expr, Var))
				continue;
			if (((Var *) te->expr)->varlevelsup != 0 || ((Var *) te->expr)->varattno <= 0)
				continue;
			attnum = ((Var *) te->expr)->varattno;
			if (rows_varno)
			{
				RangeTblEntry *rte = rt_fetch(rows_varno, query->rtable);

				if (!OidIsValid(source) || ((Var *) te->expr)->varno != (int) rows_varno)
					continue;
				attnum = get_attnum(source, strVal(list_nth(rte->eref->colnames, attnum - 1)));
				if (attnum <= 0)
					continue;
			}
			values[0] = DirectFunctionCall1(namein, CStringGetDatum(te->resname));
			values[1] = Int16GetDatum(attnum);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	table_close(view, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * Is expr the subject column of the source (range table entry varno), in
 * one of the forms create_consent_view() writes: as it is, cast to bigint
 * or text by a built-in cast, or through format('%s', ...)?
 */
static bool
is_subject_expression(Node *expr, Index varno, AttrNumber attnum)
{
	while (expr && IsA(expr, RelabelType))
		expr = (Node *) ((RelabelType *) expr)->arg;
	if (expr == NULL)
		return false;
	if (IsA(expr, Var))
		return ((Var *) expr)->varno == (int) varno &&
			((Var *) expr)->varlevelsup == 0 &&
			((Var *) expr)->varattno == attnum;
	if (IsA(expr, CoerceViaIO))
		return is_subject_expression((Node *) ((CoerceViaIO *) expr)->arg, varno, attnum);
	if (IsA(expr, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) expr;

		if ((f->funcid == F_INT8_INT4 || f->funcid == F_INT8_INT2 ||
			 f->funcid == F_TEXT_BPCHAR) && list_length(f->args) == 1)
			return is_subject_expression(linitial(f->args), varno, attnum);
		if (f->funcid == F_FORMAT_TEXT_ANY && list_length(f->args) == 2 &&
			IsA(linitial(f->args), Const) &&
			!((Const *) linitial(f->args))->constisnull &&
			strcmp(TextDatumGetCString(((Const *) linitial(f->args))->constvalue), "%s") == 0)
			return is_subject_expression(lsecond(f->args), varno, attnum);
	}
	return false;
}

/*
 * Is node a call of personalize.has_consent(<subject column>, '<purpose>'),
 * or of may_process() with the same arguments?
 */
static bool
is_consent_check(Node *node, Index varno, AttrNumber attnum, const char *purpose,
				 Oid nspid)
{
	FuncExpr   *f;
	Const	   *c;
	char	   *fname;

	if (!IsA(node, FuncExpr))
		return false;
	f = (FuncExpr *) node;
	fname = get_func_name(f->funcid);
	if (fname == NULL ||
		(strcmp(fname, "has_consent") != 0 && strcmp(fname, "may_process") != 0) ||
		get_func_namespace(f->funcid) != nspid || list_length(f->args) != 2)
		return false;
	if (!IsA(lsecond(f->args), Const))
		return false;
	c = (Const *) lsecond(f->args);
	if (c->constisnull || c->consttype != TEXTOID ||
		strcmp(TextDatumGetCString(c->constvalue), purpose) != 0)
		return false;
	return is_subject_expression(linitial(f->args), varno, attnum);
}

/*
 * _consent_view_problem(view regclass, source regclass, purpose text,
 *						 subject_column name) RETURNS text
 *
 * NULL if the view is still what create_consent_view() made of it: a
 * security barrier over its source alone, whose columns are columns of the
 * source and whose rows pass has_consent() or may_process() on the subject
 * column for the purpose.  Otherwise a sentence saying what changed, for review().
 */
Datum
personalize_consent_view_problem(PG_FUNCTION_ARGS)
{
	Oid			viewid = PG_GETARG_OID(0);
	Oid			source = PG_GETARG_OID(1);
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *subject = NameStr(*PG_GETARG_NAME(3));
	AttrNumber	attnum = get_attnum(source, subject);
	Relation	view;
	Query	   *query;
	Index		varno = 0;
	Index		rti = 0;
	ListCell   *lc;
	char	   *problem = NULL;
	bool		checked = false;

	if (get_rel_relkind(viewid) != RELKIND_VIEW)
		PG_RETURN_TEXT_P(cstring_to_text("it is no longer a view"));
	view = table_open(viewid, AccessShareLock);
	if (!RelationIsSecurityView(view))
		problem = "it is no longer a security barrier";
	query = get_view_query(view);

	/* the Citus form: _consent_view_rows() of itself, plain columns */
	{
		char	   *named;
		Index		rows_varno = view_rows_rte(query, &named);

		if (problem == NULL && rows_varno)
		{
			RangeTblEntry *rte = rt_fetch(rows_varno, query->rtable);
			char	   *self = quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewid)),
														  get_rel_name(viewid));

			if (strcmp(named, self) != 0)
				problem = psprintf("it reads the rows of consent view %s", named);
			foreach(lc, query->targetList)
			{
				TargetEntry *te = (TargetEntry *) lfirst(lc);
				Var		   *var = (Var *) te->expr;

				if (problem != NULL)
					break;
				if (te->resjunk)
					continue;
				if (!IsA(var, Var) || var->varno != (int) rows_varno || var->varlevelsup != 0 ||
					var->varattno <= 0 ||
					get_attnum(source, strVal(list_nth(rte->eref->colnames, var->varattno - 1))) <= 0)
					problem = psprintf("column \"%s\" is not a plain column of the source", te->resname);
			}
			table_close(view, AccessShareLock);
			if (problem == NULL)
				PG_RETURN_NULL();
			PG_RETURN_TEXT_P(cstring_to_text(problem));
		}
	}

	/* rows from the source alone (PostgreSQL 15 adds OLD and NEW entries) */
	if (problem == NULL &&
		(query->setOperations != NULL || query->cteList != NIL ||
		 query->hasSubLinks || list_length(query->jointree->fromlist) != 1 ||
		 !IsA(linitial(query->jointree->fromlist), RangeTblRef)))
		problem = "it reads more than its source table";
	if (problem == NULL)
		varno = ((RangeTblRef *) linitial(query->jointree->fromlist))->rtindex;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);

		rti++;
		if (problem != NULL)
			break;
		if (rti == varno)
		{
			if (rte->rtekind != RTE_RELATION || rte->relid != source)
				problem = "it no longer reads its source table";
		}
		else if (!(rte->rtekind == RTE_RELATION && rte->relid == viewid))
			problem = "it reads more than its source table";
	}

	/* every column a plain column of the source */
	foreach(lc, query->targetList)
	{
		TargetEntry *te = (TargetEntry *) lfirst(lc);

		if (problem != NULL)
			break;
		if (te->resjunk)
			continue;
		if (!IsA(te->expr, Var) || ((Var *) te->expr)->varno != (int) varno ||
			((Var *) te->expr)->varlevelsup != 0 || ((Var *) te->expr)->varattno <= 0)
			problem = psprintf("column \"%s\" is not a plain column of the source", te->resname);
	}

	/* and a consent check among the conditions every row must pass */
	if (problem == NULL)
	{
		foreach(lc, make_ands_implicit((Expr *) query->jointree->quals))
		{
			if (is_consent_check((Node *) lfirst(lc), varno, attnum, purpose,
								 PersonalizeSchemaOid()))
				checked = true;
		}
		if (!checked)
			problem = psprintf("its rows no longer pass has_consent() or may_process() on subject column \"%s\" for purpose \"%s\"",
							   subject, purpose);
	}
	table_close(view, AccessShareLock);
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* ---------- the Citus form: _consent_view_rows() ---------- */

/* is funcid personalize._consent_view_rows()? */
static bool
is_view_rows_function(Oid funcid)
{
	char	   *name = get_func_name(funcid);

	return name != NULL && strcmp(name, "_consent_view_rows") == 0 &&
		get_func_namespace(funcid) == PersonalizeSchemaOid();
}

/*
 * The Citus form of a consent view: the range table entry of its single
 * _consent_view_rows() call, or 0; *named, the text it passes.
 */
static Index
view_rows_rte(Query *query, char **named)
{
	RangeTblEntry *rte;
	RangeTblFunction *rtf;
	FuncExpr   *f;
	Const	   *c;
	Index		varno;

	if (query->setOperations != NULL || query->cteList != NIL || query->hasSubLinks ||
		query->jointree->quals != NULL || list_length(query->jointree->fromlist) != 1 ||
		!IsA(linitial(query->jointree->fromlist), RangeTblRef))
		return 0;
	varno = ((RangeTblRef *) linitial(query->jointree->fromlist))->rtindex;
	rte = rt_fetch(varno, query->rtable);
	if (rte->rtekind != RTE_FUNCTION || list_length(rte->functions) != 1 || rte->funcordinality)
		return 0;
	rtf = (RangeTblFunction *) linitial(rte->functions);
	if (!IsA(rtf->funcexpr, FuncExpr))
		return 0;
	f = (FuncExpr *) rtf->funcexpr;
	if (!is_view_rows_function(f->funcid) || list_length(f->args) != 1 ||
		!IsA(linitial(f->args), Const))
		return 0;
	c = (Const *) linitial(f->args);
	if (c->constisnull || c->consttype != TEXTOID)
		return 0;
	*named = TextDatumGetCString(c->constvalue);
	return varno;
}

/* the source of a registered consent view, or InvalidOid */
static Oid
consent_view_source(Oid viewid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;

	values[0] = ObjectIdGetDatum(viewid);
	d = ExtValue("SELECT source::pg_catalog.oid FROM personalize.consent_view"
				 " WHERE view OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				 1, argtypes, values, NULL, true, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}

typedef struct ViewRowsRegistry
{
	bool		found;
	Oid			source;
	char	   *purpose;
	char	   *basis;
	char	   *column;
	Oid			typid;
} ViewRowsRegistry;

static void
view_rows_registry_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	ViewRowsRegistry *r = (ViewRowsRegistry *) arg;
	bool		isnull;

	r->found = true;
	r->source = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
	r->purpose = SPI_getvalue(tuple, desc, 2);
	r->basis = SPI_getvalue(tuple, desc, 3);
	r->column = SPI_getvalue(tuple, desc, 4);
	r->typid = DatumGetObjectId(SPI_getbinval(tuple, desc, 5, &isnull));
}

typedef struct ViewRowsOut
{
	Tuplestorestate *store;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
} ViewRowsOut;

static void
view_rows_row(HeapTuple tuple, TupleDesc desc, void *arg)
{
	ViewRowsOut *out = (ViewRowsOut *) arg;

	heap_deform_tuple(tuple, desc, out->values, out->nulls);
	tuplestore_putvalues(out->store, out->desc, out->values, out->nulls);
}

/*
 * _consent_view_rows(view text) RETURNS SETOF record
 *
 * The rows of a consent view over a Citus table (see the top of the file),
 * for a role that may read the view: its source's columns the call asks
 * for, which must be columns of the view, of the rows whose subject passes
 * the view's consent check, read as the view's owner.
 */
Datum
personalize_consent_view_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *named = text_to_cstring(PG_GETARG_TEXT_PP(0));
	RangeVar   *rv = makeRangeVarFromNameList(PersonalizeQualifiedNameList(named));
	Oid			viewid = RangeVarGetRelid(rv, AccessShareLock, true);
	ViewRowsRegistry reg;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	StringInfoData sql;
	ViewRowsOut out;
	TupleDesc	desc;
	const char *check;

	if (!OidIsValid(viewid) || get_rel_relkind(viewid) != RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("consent view \"%s\" does not exist", named),
				 errhint("A renamed consent view must be created again with personalize.create_consent_view().")));
	if (pg_class_aclcheck(viewid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view %s", get_rel_name(viewid)),
				 errdetail("The rows of a consent view are for the roles that may read the view.")));

	memset(&reg, 0, sizeof(reg));
	values[0] = ObjectIdGetDatum(viewid);
	(void) ExtExecute("SELECT v.source::pg_catalog.oid, p.name, p.lawful_basis,"
					  "       s.subject_column::pg_catalog.text, a.atttypid"
					  "  FROM personalize.consent_view v"
					  "  JOIN personalize.purpose p ON p.purpose_id OPERATOR(pg_catalog.=) v.purpose_id"
					  "  JOIN personalize.subject_table s ON s.relid OPERATOR(pg_catalog.=) v.source"
					  "  JOIN pg_catalog.pg_attribute a"
					  "    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::pg_catalog.oid"
					  "   AND a.attname OPERATOR(pg_catalog.=) s.subject_column"
					  " WHERE v.view OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, true, view_rows_registry_row, &reg);
	if (!reg.found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"%s\" is not a consent view of a registered table", named),
				 errhint("The consent views are listed in personalize.consent_views.")));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	desc = rsinfo->setDesc;

	/* only the view's own columns, each the source's column of that name */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		AttrNumber	vatt = get_attnum(viewid, name);
		AttrNumber	satt = get_attnum(reg.source, name);

		if (vatt <= 0 || satt <= 0 ||
			get_atttype(viewid, vatt) != att->atttypid ||
			get_atttype(reg.source, satt) != att->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("column \"%s\" is not a column of consent view %s", name,
							get_rel_name(viewid)),
					 errdetail("The rows function of a consent view returns the columns the view shows, with their types.")));
		appendStringInfo(&sql, "%st.%s", i > 0 ? ", " : "", quote_identifier(name));
	}
	check = strcmp(reg.basis, LAWFUL_BASIS_CONSENT) == 0 ? "has_consent" : "may_process";
	appendStringInfo(&sql, " FROM %s t WHERE personalize.%s(%s, $1)",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(reg.source)),
												get_rel_name(reg.source)),
					 check, SubjectArgument("t.", quote_identifier(reg.column), reg.typid));

	out.store = rsinfo->setResult;
	out.desc = desc;
	out.values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	out.nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	/* as the view's owner, as a view reads its tables */
	/* the purpose as a parameter, never as SQL text */
	argtypes[0] = TEXTOID;
	values[0] = CStringGetTextDatum(reg.purpose);
	(void) RoleExecuteCursor(RelationOwnerOid(viewid), sql.data, 1, argtypes, values, NULL,
							 view_rows_row, &out);
	PG_RETURN_VOID();
}
