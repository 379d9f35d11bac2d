/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention rules and the purge engine shared by purge(), run_purge(),
 *	  run_maintenance() and the background worker.
 *
 * A rule says: delete a table's rows once <time column> is older than
 * <keep>, and <condition> holds.  The condition is parsed when the rule is
 * set, as the WHERE clause of a query on the table alone: one boolean
 * expression over the table's columns, no sub-query, no whole-row
 * reference, nothing after it.  It is stored as PostgreSQL prints it back
 * (deparsed with only pg_catalog on the search path, so every other name is
 * schema-qualified), re-checked before each run, and parsed and evaluated
 * as the table's owner, never as the caller or the worker.
 *
 * A run computes its cutoff once (now - keep, never earlier than now -
 * personalize.max_retention) and deletes in batches:
 *
 *	- with a btree index whose first column is the time column, when few
 *	  rows are expired: keyset batches in time order.  Each batch selects the
 *	  next N expired rows at or after the last time value seen, then deletes
 *	  them by ctid, so a batch never rescans what earlier batches deleted
 *	  (the dead index entries that make "ctid = ANY(ARRAY(SELECT ... LIMIT
 *	  n))" quadratic);
 *	- otherwise: batches of consecutive heap pages, "ctid >= '(p,0)' AND
 *	  ctid < '(p+k,0)'", one pass over the heap;
 *	- a range-partitioned table whose key is the time column, without a
 *	  condition: partitions entirely older than the cutoff are counted,
 *	  detached and dropped; the others are purged row by row as above.
 *
 * Every statement on the table runs as its owner in a restricted security
 * context (base/runas.c: BeginRunAs), with the batch's lock_timeout; whatever
 * the owner's triggers change in the session's settings is undone after
 * each statement.  The batch size adapts so that a batch takes at most
 * personalize.purge_max_batch_ms, which is also its lock_timeout.
 *
 * RetentionRun() is the one driver: purge() runs a rule in its caller's
 * transaction, run_purge() and the worker commit each batch.  Each batch
 * runs in a subtransaction, so that a failure rolls back that batch only
 * (everything, for purge()), leaves the transaction usable, and is recorded
 * in the purge log and on the rule before the next rule runs.  The log gets
 * a row when a run first deletes something, updated in the same
 * transaction as each batch, so a crash leaves a "running" row that the
 * next run marks "interrupted".
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/retention/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "base/bypass.h"
#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/relations.h"
#include "base/runas.h"
#include "retention/retention.h"

PG_FUNCTION_INFO_V1(personalize_set_retention);
PG_FUNCTION_INFO_V1(personalize_drop_retention);
PG_FUNCTION_INFO_V1(personalize_purge);
PG_FUNCTION_INFO_V1(personalize_run_purge);

/* GUCs */
static int	max_retention_s = 365 * 24 * 3600;
static int	purge_batch_size = 10000;
static int	purge_max_batch_ms = 200;
static int	purge_batch_delay = 0;
static int	worker_purge_batch_delay = 100;
static int	purge_log_keep_s = 30 * 24 * 3600;

/* how a run walks a table */
typedef enum PurgeStrategy
{
	PURGE_BY_TIME_INDEX,		/* keyset batches in time order */
	PURGE_BY_PAGES,				/* batches of heap pages */
	PURGE_BY_TIME_SLICES		/* a Citus table: batches of time ranges */
} PurgeStrategy;

/* a rule, as read from personalize.retention_rule */
struct PurgeRule
{
	Oid			relid;
	char	   *time_column;
	char	   *condition;		/* deparsed, or NULL */
	Interval	keep;
};

/* one relation (the table, or a leaf partition) a run purges */
typedef struct PurgeTarget
{
	Oid			relid;
	char	   *qualname;
	PurgeStrategy strategy;
	/* keyset position: (time, ctid) of the last candidate */
	bool		have_lower;
	Datum		lower;
	ItemPointerData lower_ctid;
	/* page position */
	BlockNumber next_page;
	BlockNumber npages;
	bool		done;
} PurgeTarget;

/* the state of one run over one rule */
typedef struct PurgeRun
{
	PurgeRule  *rule;
	const char *started_by;
	Oid			owner;
	TimestampTz started_at;
	Datum		cutoff;			/* in the time column's type */
	Oid			time_type;
	bool		citus;			/* a Citus distributed or reference table */
	int64		run_id;			/* 0 until a batch deletes something */
	int64		rows;
	int			batches;
	int			partitions;
	double		max_batch_ms;
	int			batch_rows;		/* adaptive batch size, in rows */
	List	   *droppable;		/* (parent, child) pairs of expired partitions */
	List	   *targets;		/* PurgeTarget, in order */
	ListCell   *next_drop;
	ListCell   *next_target;
	bool		more;			/* steps remain */
	MemoryContext cxt;			/* lives across the run's batches */
} PurgeRun;

/*
 * The name of the table a rule is asked for, or the error for a table that
 * no longer exists (a regclass argument may hold any OID).
 */
static const char *
rule_table_name(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return name;
}

/*
 * Define the GUCs of retention.
 */
void
RetentionInit(void)
{
	DefineCustomIntVariable("personalize.max_retention",
							gettext_noop("The longest time a retention rule may keep rows."),
							gettext_noop("set_retention() refuses a longer keep; only a superuser may change it."),
							&max_retention_s,
							365 * 24 * 3600,
							1,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.purge_batch_size",
							gettext_noop("Rows deleted per purge batch to start with."),
							gettext_noop("The size adapts so that a batch stays under personalize.purge_max_batch_ms."),
							&purge_batch_size,
							10000,
							100,
							10000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.purge_max_batch_ms",
							gettext_noop("The longest a purge batch (one transaction) should take; also its lock_timeout."),
							NULL,
							&purge_max_batch_ms,
							200,
							10,
							600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.purge_batch_delay",
							gettext_noop("Time run_purge() sleeps between two batches."),
							gettext_noop("A pause leaves the machine to the other sessions; 0 purges at full speed."),
							&purge_batch_delay,
							0,
							0,
							10000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.worker_purge_batch_delay",
							gettext_noop("Time the background worker's purge sleeps between two batches."),
							gettext_noop("-1 uses personalize.purge_batch_delay."),
							&worker_purge_batch_delay,
							100,
							-1,
							10000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("personalize.purge_log_keep",
							gettext_noop("How long purge runs stay in personalize.purge_log."),
							NULL,
							&purge_log_keep_s,
							30 * 24 * 3600,
							60,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Rules
 * ---------------------------------------------------------------------
 */

/*
 * Re-throw the error being handled as one about the retention condition:
 * its position moves from the caller's statement to the query built around
 * the condition.  Call from a PG_CATCH block; cxt is the caller's context.
 */
static void
condition_error(MemoryContext cxt, const char *sql)
{
	ErrorData  *edata;

	/* CopyErrorData() must not run in ErrorContext, which it copies from */
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	if (edata->cursorpos > 0)
	{
		edata->internalpos = edata->cursorpos;
		edata->internalquery = pstrdup(sql);
		edata->cursorpos = 0;
	}
	if (edata->context == NULL)
		edata->context = pstrdup("retention condition");
	if (edata->sqlerrcode == ERRCODE_UNDEFINED_FUNCTION ||
		edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT)
		edata->hint = pstrdup("At every purge the condition is read with search_path = pg_catalog, pg_temp; it is stored with every other name schema-qualified.");
	ReThrowError(edata);
}

/* does an expression refer to a whole row of the table? */
static bool
contains_whole_row(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varattno == InvalidAttrNumber)
		return true;
	return expression_tree_walker(node, contains_whole_row, context);
}

/*
 * Check a condition as the WHERE clause of a query on the table alone and
 * return it deparsed.  Parsed as the table's owner (parsing can run code: a
 * domain's checks on a literal), with the search_path given (the caller's,
 * when the rule is set), or pg_catalog, pg_temp when NULL (a run, which
 * reads the stored, qualified form).
 */
static char *
validate_condition(Oid relid, Oid owner, const char *condition,
				   const char *search_path)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													  get_rel_name(relid));
	char	   *sql = psprintf("SELECT FROM %s WHERE %s", qualname, condition);
	List	   *volatile raw = NIL;
	RawStmt    *rawstmt;
	SelectStmt *select;
	Query	   *volatile query = NULL;
	char	   *result;
	RunAs		ra;

	BeginRunAs(&ra, owner);
	if (search_path != NULL)
		(void) set_config_option("search_path", search_path, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Errors point into the query built around the condition, not into the
	 * caller's statement: report them as an internal query.
	 */
	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		condition_error(cxt, sql);
	}
	PG_END_TRY();
	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention condition must be a single expression"),
				 errdetail("The condition \"%s\" contains more than one statement.", condition),
				 errhint("Write a boolean expression over the table's columns, such as status = 'resolved'.")));
	rawstmt = linitial_node(RawStmt, raw);
	select = (SelectStmt *) rawstmt->stmt;
	if (!IsA(select, SelectStmt) || select->op != SETOP_NONE ||
		list_length(select->fromClause) != 1 || select->groupClause ||
		select->havingClause || select->windowClause || select->sortClause ||
		select->limitCount || select->limitOffset || select->lockingClause ||
		select->withClause || select->distinctClause || select->intoClause ||
		select->targetList != NIL || select->whereClause == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention condition must be a single expression"),
				 errdetail("The condition \"%s\" does more than filter rows.", condition),
				 errhint("Write a boolean expression over the table's columns, such as status = 'resolved'.")));

	PG_TRY();
	{
		query = parse_analyze_fixedparams(rawstmt, sql, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		condition_error(cxt, sql);
	}
	PG_END_TRY();
	if (list_length(query->rtable) != 1 || query->jointree->quals == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention condition may refer to the table's columns only")));
	if (query->hasSubLinks || checkExprHasSubLink(query->jointree->quals))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention condition cannot contain a sub-query"),
				 errhint("Refer to the table's own columns; a condition runs for every batch of every purge.")));
	if (contains_whole_row(query->jointree->quals, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention condition cannot refer to the whole row"),
				 errhint("Name the columns the condition needs, such as status = 'resolved'.")));

	/* print it back with every non-catalog name qualified */
	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	result = deparse_expression(query->jointree->quals,
								deparse_context_for(get_rel_name(relid), relid),
								false, false);
	EndRunAs(&ra);
	return result;
}

/*
 * The type of a rule's time column, or an error.
 */
static Oid
time_column_type(Oid relid, const char *column, AttrNumber *attnum)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, column);
	Form_pg_attribute att;
	Oid			typid;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(relid))));
	att = (Form_pg_attribute) GETSTRUCT(tup);
	typid = att->atttypid;
	if (attnum)
		*attnum = att->attnum;
	ReleaseSysCache(tup);
	if (typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" is of type %s, not a date or timestamp",
						column, format_type_be(typid)),
				 errhint("The time column says when a row's clock started: date, timestamp or timestamp with time zone.")));
	return typid;
}

/*
 * May the current role set rules on the table?  Its owner (or a member of
 * the owner role) may: the rule deletes as the owner.
 */
static void
check_rule_owner(Oid relid)
{
	Oid			owner = RelationOwnerOid(relid);

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", get_rel_name(relid)),
				 errdetail("A retention rule deletes rows, and its condition runs, as the table's owner."),
				 errhint("Ask the table's owner to set the rule.")));
}

/*
 * now - keep, the oldest time a rule keeps.
 */
static TimestampTz
keep_cutoff(TimestampTz now, Interval *keep)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(now),
												   IntervalPGetDatum(keep)));
}

/*
 * now - personalize.max_retention, counted in calendar days as a keep is
 * (so that "365 days" is never longer than 365d across a change of time).
 */
static TimestampTz
retention_limit(TimestampTz now)
{
	Interval	cap = {0};

	cap.day = max_retention_s / SECS_PER_DAY;
	cap.time = (int64) (max_retention_s % SECS_PER_DAY) * USECS_PER_SEC;
	return keep_cutoff(now, &cap);
}

/*
 * set_retention(tbl regclass, time_column name, keep interval,
 *				 condition text DEFAULT NULL)
 */
Datum
personalize_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column;
	Interval   *keep;
	char	   *condition = NULL;
	char		relkind;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz cutoff;
	TimestampTz limit;
	Oid			argtypes[5] = {OIDOID, NAMEOID, INTERVALOID, TEXTOID, NAMEOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table, time column and keep must not be null")));
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	keep = PG_GETARG_INTERVAL_P(2);
	if (!PG_ARGISNULL(3))
		condition = text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relkind = get_rel_relkind(relid);
	if ((relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE) ||
		IsCatalogRelationOid(relid) || isAnyTempNamespace(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot set a retention rule on \"%s\"", get_rel_name(relid)),
				 errdetail("Rules apply to ordinary and partitioned tables, not to views, system catalogs or temporary tables.")));
	check_rule_owner(relid);
	if (PersonalizeCitusTableKind(relid) == CITUS_OTHER)
		PersonalizeRefuseCitusTable(relid, "set_retention()");
	(void) time_column_type(relid, column, NULL);

	/* the real cutoff decides: months and years are not 30 and 360 days */
	cutoff = keep_cutoff(now, keep);
	limit = retention_limit(now);
	if (cutoff >= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be a positive interval"),
				 errhint("Say how long rows are kept, such as '90 days'.")));
	if (cutoff < limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep %s is longer than personalize.max_retention",
						DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(keep)))),
				 errdetail("Counted from now it keeps rows %lld days; personalize.max_retention allows %s.",
						   (long long) ((now - cutoff + USECS_PER_DAY / 2) / USECS_PER_DAY),
						   GetConfigOptionByName("personalize.max_retention", NULL, false)),
				 errhint("Keep personal data no longer than needed; only a superuser can raise personalize.max_retention.")));

	if (condition != NULL)
		condition = validate_condition(relid, RelationOwnerOid(relid), condition,
									   namespace_search_path);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = IntervalPGetDatum(keep);
	values[3] = condition ? CStringGetTextDatum(condition) : (Datum) 0;
	nulls[3] = condition ? ' ' : 'n';
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	(void) ExtExecute("INSERT INTO personalize.retention_rule"
					  " (relid, time_column, keep, condition, created_by)"
					  " VALUES ($1, $2, $3, $4, $5)"
					  " ON CONFLICT (relid) DO UPDATE SET time_column = EXCLUDED.time_column,"
					  "  keep = EXCLUDED.keep, condition = EXCLUDED.condition,"
					  "  created_at = pg_catalog.now(), created_by = EXCLUDED.created_by",
					  5, argtypes, values, nulls, false, NULL, NULL);
	PG_RETURN_VOID();
}

/*
 * drop_retention(tbl regclass)
 */
Datum
personalize_drop_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table must not be null")));
	relid = PG_GETARG_OID(0);
	check_rule_owner(relid);
	values[0] = ObjectIdGetDatum(relid);
	if (ExtExecute("DELETE FROM personalize.retention_rule"
				   " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				   1, argtypes, values, NULL, false, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no retention rule", rule_table_name(relid))));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * The purge engine
 * ---------------------------------------------------------------------
 */

typedef struct ReadRules
{
	List	   *rules;
	MemoryContext cxt;
} ReadRules;

static void
rule_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	ReadRules  *rr = (ReadRules *) arg;
	MemoryContext old = MemoryContextSwitchTo(rr->cxt);
	PurgeRule  *rule = palloc0(sizeof(PurgeRule));
	bool		isnull;

	rule->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	rule->time_column = SPI_getvalue(tup, desc, 2);
	rule->keep = *DatumGetIntervalP(SPI_getbinval(tup, desc, 3, &isnull));
	rule->condition = SPI_getvalue(tup, desc, 4);
	rr->rules = lappend(rr->rules, rule);
	MemoryContextSwitchTo(old);
}

/*
 * The rules to run: one table's, or all of them, in cxt.
 */
List *
RetentionRules(Oid only_relid, MemoryContext cxt)
{
	ReadRules	rr = {NIL, cxt};
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	char		nulls[1];
	List	   *rules = NIL;
	ListCell   *lc;
	bool		log_subscribed;

	values[0] = ObjectIdGetDatum(only_relid);
	nulls[0] = OidIsValid(only_relid) ? ' ' : 'n';
	(void) ExtExecute("SELECT relid::pg_catalog.oid, time_column::pg_catalog.text, keep, condition"
					  "  FROM personalize.retention_rule"
					  " WHERE $1 IS NULL OR relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
					  " ORDER BY relid::pg_catalog.oid",
					  1, argtypes, values, nulls, true, rule_row, &rr);

	/*
	 * On a logical replication subscriber, the publisher purges the tables
	 * a subscription fills (its deletions arrive here), and a purge log the
	 * subscription fills cannot take this node's runs.
	 */
	log_subscribed = RelationIsSubscribed(PersonalizeRelid(REL_PURGE_RUN));
	foreach(lc, rr.rules)
	{
		PurgeRule  *rule = (PurgeRule *) lfirst(lc);
		bool		subscribed = log_subscribed || RelationIsSubscribed(rule->relid);

		if (subscribed && OidIsValid(only_relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot purge table %s of a logical replication subscriber",
							RelationQualifiedName(rule->relid)),
					 log_subscribed ?
					 errdetail("A subscription fills this database's purge log.") :
					 errdetail("A subscription fills the table from the publisher."),
					 errhint("Purge on the publisher: its deletions arrive here.")));
		if (!subscribed)
		{
			/* the list outlives this transaction, as the rules do */
			MemoryContext old = MemoryContextSwitchTo(cxt);

			rules = lappend(rules, rule);
			MemoryContextSwitchTo(old);
		}
	}
	return rules;
}

Oid
RetentionRuleRelid(const PurgeRule *rule)
{
	return rule->relid;
}

/*
 * A copy of a datum of the given type in the given context.
 */
static Datum
datumCopyInContext(MemoryContext cxt, Datum value, Oid typid)
{
	int16		typlen;
	bool		typbyval;
	MemoryContext old;
	Datum		result;

	get_typlenbyval(typid, &typlen, &typbyval);
	old = MemoryContextSwitchTo(cxt);
	result = datumCopy(value, typbyval, typlen);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * Milliseconds since start.
 */
static double
elapsed_ms(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * The first btree index whose first column is the time column, usable for
 * keyset batches; InvalidOid if none.
 */
static Oid
time_index(Relation rel, AttrNumber attnum)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			result = InvalidOid;

	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index index;
		bool		usable;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		usable = index->indisvalid && index->indimmediate &&
			index->indnatts > 0 && index->indkey.values[0] == attnum &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			RelationAccessMethod(indexoid) == BTREE_AM_OID;
		ReleaseSysCache(tup);
		if (usable)
		{
			result = indexoid;
			break;
		}
	}
	list_free(indexes);
	return result;
}

/*
 * The exclusive upper bound of a range partition on a single column, if it
 * is a value; false for MAXVALUE, a default partition or anything else.
 */
static bool
partition_upper_bound(Oid partoid, Datum *upper)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(partoid));
	Datum		datum;
	bool		isnull;
	PartitionBoundSpec *spec;
	PartitionRangeDatum *prd;
	bool		result = false;

	if (!HeapTupleIsValid(tup))
		return false;
	datum = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relpartbound, &isnull);
	if (!isnull)
	{
		spec = (PartitionBoundSpec *) stringToNode(TextDatumGetCString(datum));
		if (spec->strategy == PARTITION_STRATEGY_RANGE && !spec->is_default &&
			list_length(spec->upperdatums) == 1)
		{
			prd = linitial_node(PartitionRangeDatum, spec->upperdatums);
			if (prd->kind == PARTITION_RANGE_DATUM_VALUE && IsA(prd->value, Const) &&
				!((Const *) prd->value)->constisnull)
			{
				*upper = ((Const *) prd->value)->constvalue;
				result = true;
			}
		}
	}
	ReleaseSysCache(tup);
	return result;
}

/*
 * Compare two values of a time column type.
 */
static int
compare_time_values(Oid typid, Datum a, Datum b)
{
	if (typid == DATEOID)
		return (DatumGetDateADT(a) > DatumGetDateADT(b)) - (DatumGetDateADT(a) < DatumGetDateADT(b));
	return (DatumGetInt64(a) > DatumGetInt64(b)) - (DatumGetInt64(a) < DatumGetInt64(b));
}

/*
 * Run a statement on the purged table as its owner (BeginRunAs), with the
 * batch's lock_timeout, inside the caller's SPI connection so that
 * SPI_tuptable stays readable; returns SPI_processed.
 */
static uint64
owner_execute(PurgeRun *run, const char *sql, int nargs, Oid *argtypes,
			  Datum *values, bool read_only)
{
	RunAs		ra;
	int			ret;
	char		timeout[32];

	BeginRunAs(&ra, run->owner);
	/* every row of the table, even when FORCE binds the owner (base/bypass.c) */
	PolicyBypassBegin(run->rule->relid, NULL);
	snprintf(timeout, sizeof(timeout), "%d", purge_max_batch_ms);
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, read_only, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	PolicyBypassEnd();
	EndRunAs(&ra);
	return SPI_processed;
}

static void
run_id_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	bool		isnull;

	*(int64 *) arg = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
}

/*
 * Record a batch in the purge log, in the batch's transaction: the first
 * batch that deletes creates the run's row.
 */
static void
log_batch(PurgeRun *run, double ms)
{
	Oid			argtypes[5] = {INT8OID, INT8OID, INT4OID, INT4OID, FLOAT8OID};
	Datum		values[5];

	if (run->run_id == 0)
	{
		Oid			types[3] = {OIDOID, TIMESTAMPTZOID, TEXTOID};
		Datum		vals[3];

		vals[0] = ObjectIdGetDatum(run->rule->relid);
		vals[1] = TimestampTzGetDatum(run->started_at);
		vals[2] = CStringGetTextDatum(run->started_by);
		(void) ExtExecute("INSERT INTO personalize.purge_run (relid, started_at, outcome, started_by,"
						  " backend_pid, backend_start)"
						  " SELECT $1, $2, 'running', $3, pg_catalog.pg_backend_pid(), a.backend_start"
						  "   FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a"
						  " RETURNING run_id",
						  3, types, vals, NULL, false, run_id_row, &run->run_id);
		if (run->run_id == 0)
			elog(ERROR, "could not log purge run");
	}
	values[0] = Int64GetDatum(run->run_id);
	values[1] = Int64GetDatum(run->rows);
	values[2] = Int32GetDatum(run->batches);
	values[3] = Int32GetDatum(run->partitions);
	values[4] = Float8GetDatum(Max(run->max_batch_ms, ms));
	(void) ExtExecute("UPDATE personalize.purge_run SET rows_deleted = $2, batches = $3,"
					  " partitions_dropped = $4, max_batch_ms = $5"
					  " WHERE run_id OPERATOR(pg_catalog.=) $1",
					  5, argtypes, values, NULL, false, NULL, NULL);
}

/*
 * Adapt the batch size to the time the last batch took.
 */
static void
adapt_batch(PurgeRun *run, double ms)
{
	run->max_batch_ms = Max(run->max_batch_ms, ms);
	if (ms > purge_max_batch_ms)
		run->batch_rows = Max(100, run->batch_rows / 2);
	else if (ms < purge_max_batch_ms / 4.0)
		run->batch_rows = Min(run->batch_rows * 2, purge_batch_size * 16);
}

/* " AND (<condition>)" for the rule's condition, or nothing */
static const char *
condition_clause(PurgeRun *run)
{
	if (run->rule->condition == NULL)
		return "";
	return psprintf(" AND (%s)", run->rule->condition);
}

/* the time before every other, in the time column's type */
static Datum
time_minus_infinity(PurgeRun *run)
{
	return run->time_type == DATEOID ? DateADTGetDatum(DATEVAL_NOBEGIN) :
		TimestampGetDatum(DT_NOBEGIN);
}

/*
 * Where the next batch of a target starts, kept across batches (which may
 * commit in between): the time value, in the run's context.
 */
static void
target_set_lower(PurgeRun *run, PurgeTarget *target, Datum lower)
{
	if (target->have_lower && !get_typbyval(run->time_type))
		pfree(DatumGetPointer(target->lower));
	target->lower = datumCopyInContext(run->cxt, lower, run->time_type);
	target->have_lower = true;
}

/*
 * PURGE_BY_TIME_INDEX: the next N expired rows in (time, ctid) order after
 * the last candidate, chosen by the index alone, then deleted by ctid; the
 * condition is evaluated once per row, by the DELETE.  Returns rows
 * deleted; sets target->done when the target has nothing more to delete.
 */
static uint64
purge_by_time_index(PurgeRun *run, PurgeTarget *target, StringInfo sql)
{
	const char *col = quote_identifier(run->rule->time_column);
	uint64		deleted = 0;
	Oid			argtypes[4];
	Datum		values[4];
	uint64		selected;
	Datum	   *ctids;
	bool		isnull;
	Datum		lasttime = (Datum) 0;
	ItemPointerData lastctid;

	argtypes[0] = run->time_type;
	argtypes[1] = TIDOID;
	argtypes[2] = run->time_type;
	argtypes[3] = INT4OID;
	if (target->have_lower)
	{
		values[0] = target->lower;
		values[1] = PointerGetDatum(&target->lower_ctid);
	}
	else
	{
		values[0] = time_minus_infinity(run);
		ItemPointerSet(&lastctid, 0, 0);
		values[1] = PointerGetDatum(&lastctid);
	}
	values[2] = run->cutoff;
	values[3] = Int32GetDatum(run->batch_rows);
	appendStringInfo(sql,
					 "SELECT t.ctid, t.%s FROM %s t WHERE t.%s >= $1 AND t.%s < $3"
					 " AND (t.%s, t.ctid) > ($1, $2) ORDER BY t.%s, t.ctid LIMIT $4",
					 col, target->qualname, col, col, col, col);
	selected = owner_execute(run, sql->data, 4, argtypes, values, true);
	if (selected < (uint64) run->batch_rows)
		target->done = true;
	if (selected > 0)
	{
		ctids = palloc(sizeof(Datum) * selected);
		for (uint64 i = 0; i < selected; i++)
		{
			ctids[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			lasttime = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		}
		target_set_lower(run, target, lasttime);
		ItemPointerCopy((ItemPointer) DatumGetPointer(ctids[selected - 1]), &target->lower_ctid);

		/* delete those that still qualify */
		resetStringInfo(sql);
		appendStringInfo(sql,
						 "DELETE FROM %s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY ($1)"
						 " AND t.%s < $2%s",
						 target->qualname, col, condition_clause(run));
		argtypes[0] = TIDARRAYOID;
		argtypes[1] = run->time_type;
		values[0] = PointerGetDatum(construct_array(ctids, selected, TIDOID,
													sizeof(ItemPointerData), false,
													TYPALIGN_SHORT));
		values[1] = run->cutoff;
		deleted = owner_execute(run, sql->data, 2, argtypes, values, false);
	}
	return deleted;
}

/*
 * PURGE_BY_TIME_SLICES, for a Citus table: its rows are in shards, which
 * neither ctids nor the local table's pages reach.  Each batch deletes a
 * range of time [lower, upper) through Citus, which runs the DELETE on
 * every shard in one distributed transaction; upper is the time of the
 * first expired row past the batch's size (ties stay together, in the next
 * batch), or the cutoff when fewer rows remain.
 */
static uint64
purge_by_time_slices(PurgeRun *run, PurgeTarget *target, StringInfo sql)
{
	const char *col = quote_identifier(run->rule->time_column);
	uint64		deleted;
	Oid			argtypes[3];
	Datum		values[3];
	Datum		lower;
	Datum		upper;
	bool		isnull;
	uint64		found;

	lower = target->have_lower ? target->lower : time_minus_infinity(run);
	argtypes[0] = run->time_type;
	argtypes[1] = run->time_type;
	argtypes[2] = INT8OID;
	values[0] = lower;
	values[1] = run->cutoff;
	values[2] = Int64GetDatum((int64) run->batch_rows);
	appendStringInfo(sql,
					 "SELECT t.%s FROM %s t WHERE t.%s >= $1 AND t.%s < $2"
					 " ORDER BY t.%s OFFSET $3 LIMIT 1",
					 col, target->qualname, col, col, col);
	found = owner_execute(run, sql->data, 3, argtypes, values, true);
	upper = found > 0 ?
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull) :
		run->cutoff;
	if (found > 0 && compare_time_values(run->time_type, upper, lower) <= 0)
	{
		/* more rows at lower than a batch holds: take them all */
		resetStringInfo(sql);
		appendStringInfo(sql,
						 "SELECT pg_catalog.min(t.%s) FROM %s t WHERE t.%s > $1 AND t.%s < $2",
						 col, target->qualname, col, col);
		(void) owner_execute(run, sql->data, 2, argtypes, values, true);
		upper = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			upper = run->cutoff;
	}
	upper = datumCopyInContext(run->cxt, upper, run->time_type);

	resetStringInfo(sql);
	appendStringInfo(sql,
					 "DELETE FROM %s t WHERE t.%s >= $1 AND t.%s < $2%s",
					 target->qualname, col, col, condition_clause(run));
	values[1] = upper;
	deleted = owner_execute(run, sql->data, 2, argtypes, values, false);

	/* kept across batches, which may commit in between */
	if (target->have_lower && !get_typbyval(run->time_type))
		pfree(DatumGetPointer(target->lower));
	target->lower = upper;
	target->have_lower = true;
	if (compare_time_values(run->time_type, upper, run->cutoff) >= 0)
		target->done = true;
	return deleted;
}

/*
 * PURGE_BY_PAGES: the expired rows of the next run of consecutive heap
 * pages, "ctid >= '(p,0)' AND ctid < '(p+k,0)'": one pass over the heap.
 */
static uint64
purge_by_pages(PurgeRun *run, PurgeTarget *target, StringInfo sql)
{
	const char *col = quote_identifier(run->rule->time_column);
	uint64		deleted;
	Oid			argtypes[1];
	Datum		values[1];
	BlockNumber pages = Max(1, run->batch_rows / 100);
	BlockNumber last = Min(target->npages, target->next_page + pages);

	argtypes[0] = run->time_type;
	values[0] = run->cutoff;
	appendStringInfo(sql,
					 "DELETE FROM %s t WHERE t.ctid >= '(%u,0)'::pg_catalog.tid"
					 " AND t.ctid < '(%u,0)'::pg_catalog.tid AND t.%s < $1%s",
					 target->qualname, target->next_page, last, col, condition_clause(run));
	deleted = owner_execute(run, sql->data, 1, argtypes, values, false);
	target->next_page = last;
	if (last >= target->npages)
		target->done = true;
	return deleted;
}

/* a strategy's batch (PurgeStrategy), run inside SPI */
typedef uint64 (*PurgeBatchFn) (PurgeRun *run, PurgeTarget *target, StringInfo sql);

static const PurgeBatchFn purge_batch_fn[] = {
	[PURGE_BY_TIME_INDEX] = purge_by_time_index,
	[PURGE_BY_PAGES] = purge_by_pages,
	[PURGE_BY_TIME_SLICES] = purge_by_time_slices,
};

/*
 * One batch of a target, by its strategy, timed, logged and counted;
 * returns rows deleted.  Sets target->done when the target has nothing
 * more to delete.  Runs inside SPI, in whatever transaction the caller
 * provides.
 */
static uint64
purge_batch(PurgeRun *run, PurgeTarget *target)
{
	StringInfoData sql;
	uint64		deleted;
	instr_time	start;
	double		ms;

	INSTR_TIME_SET_CURRENT(start);
	initStringInfo(&sql);
	deleted = purge_batch_fn[target->strategy] (run, target, &sql);
	ms = elapsed_ms(start);
	run->batches++;
	run->rows += deleted;
	if (deleted > 0)
		log_batch(run, ms);
	adapt_batch(run, ms);
	return deleted;
}

/*
 * Are at least 5% of the target's rows older than the cutoff?  Counts by
 * the time index, stopping at 5% of the estimated rows.
 */
static bool
mostly_expired(PurgeRun *run, PurgeTarget *t)
{
	Relation	rel = table_open(t->relid, AccessShareLock);
	double		reltuples = rel->rd_rel->reltuples;
	int64		limit;
	Oid			argtypes[2];
	Datum		values[2];
	char	   *sql;
	bool		isnull;
	int64		found;

	table_close(rel, AccessShareLock);
	if (reltuples < 0)
		reltuples = (double) t->npages * 100;
	limit = Max(1000, (int64) (reltuples * 0.05));
	argtypes[0] = run->time_type;
	argtypes[1] = INT8OID;
	values[0] = run->cutoff;
	values[1] = Int64GetDatum(limit);
	sql = psprintf("SELECT pg_catalog.count(*) FROM (SELECT FROM %s t WHERE t.%s < $1 LIMIT $2) s",
				   t->qualname, quote_identifier(run->rule->time_column));
	(void) owner_execute(run, sql, 2, argtypes, values, true);
	found = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return found >= limit;
}

/*
 * The targets of a run: the table itself, or the leaf partitions of a
 * partitioned table, each with its strategy, and the partitions that go
 * whole.  Everything is allocated in run->cxt: the lists live across the
 * batches' commits.
 */
static void
purge_targets(PurgeRun *run)
{
	List	   *leaves = NIL;
	List	   *queue;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(run->cxt);

	queue = list_make1_oid(run->rule->relid);
	run->droppable = NIL;
	run->targets = NIL;

	/* a Citus table is purged through Citus, as one target */
	if (run->citus)
	{
		PurgeTarget *t = palloc0(sizeof(PurgeTarget));

		t->relid = run->rule->relid;
		t->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(t->relid)),
												 get_rel_name(t->relid));
		t->strategy = PURGE_BY_TIME_SLICES;
		run->targets = list_make1(t);
		MemoryContextSwitchTo(old);
		return;
	}

	/* walk the partition tree */
	while (queue != NIL)
	{
		Oid			relid = linitial_oid(queue);
		Relation	rel;

		queue = list_delete_first(queue);
		rel = table_open(relid, AccessShareLock);
		if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		{
			PartitionKey key = RelationGetPartitionKey(rel);
			List	   *children = find_inheritance_children(relid, AccessShareLock);
			AttrNumber	child_attnum = get_attnum(relid, run->rule->time_column);
			bool		by_time = get_partition_strategy(key) == PARTITION_STRATEGY_RANGE &&
				get_partition_natts(key) == 1 &&
				get_partition_col_attnum(key, 0) == child_attnum;

			foreach(lc, children)
			{
				Oid			child = lfirst_oid(lc);
				Datum		upper;

				/* a whole partition older than the cutoff goes at once */
				if (by_time && run->rule->condition == NULL &&
					partition_upper_bound(child, &upper) &&
					compare_time_values(run->time_type, upper, run->cutoff) <= 0)
					run->droppable = lappend(run->droppable, list_make2_oid(relid, child));
				else
					queue = lappend_oid(queue, child);
			}
		}
		else
			leaves = lappend_oid(leaves, relid);
		table_close(rel, AccessShareLock);
	}

	foreach(lc, leaves)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = table_open(relid, AccessShareLock);
		PurgeTarget *t = palloc0(sizeof(PurgeTarget));
		AttrNumber	leaf_attnum = get_attnum(relid, run->rule->time_column);
		bool		indexed = OidIsValid(time_index(rel, leaf_attnum));

		t->relid = relid;
		t->qualname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												 get_rel_name(relid));
		t->npages = RelationGetNumberOfBlocks(rel);
		table_close(rel, AccessShareLock);

		/*
		 * The index pays when few rows are expired (the usual daily purge);
		 * when many are (a first purge, a shorter rule), one pass over the
		 * heap costs less than visiting them by index.
		 */
		t->strategy = indexed && !mostly_expired(run, t) ?
			PURGE_BY_TIME_INDEX : PURGE_BY_PAGES;
		/* an SPI call leaves SPI's memory context current */
		MemoryContextSwitchTo(run->cxt);
		run->targets = lappend(run->targets, t);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Count, detach and drop one expired partition, as the owner.  The count
 * is exact (the log says what was erased): the partition is locked against
 * writes first, then counted.
 */
static void
drop_partition(PurgeRun *run, Oid parent, Oid child)
{
	char	   *parentname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
														get_rel_name(parent));
	char	   *childname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(child)),
													   get_rel_name(child));
	instr_time	start;
	double		ms;
	bool		isnull;
	int64		rows;

	INSTR_TIME_SET_CURRENT(start);
	(void) owner_execute(run, psprintf("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", childname),
						 0, NULL, NULL, false);
	(void) owner_execute(run, psprintf("SELECT pg_catalog.count(*) FROM %s", childname),
						 0, NULL, NULL, true);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	(void) owner_execute(run, psprintf("ALTER TABLE %s DETACH PARTITION %s", parentname, childname),
						 0, NULL, NULL, false);
	(void) owner_execute(run, psprintf("DROP TABLE %s", childname), 0, NULL, NULL, false);
	ms = elapsed_ms(start);
	run->partitions++;
	run->batches++;
	run->rows += rows;
	log_batch(run, ms);
	adapt_batch(run, ms);
}

/*
 * Start a run: owner, cutoff in the column's type, the condition checked
 * again (the table may have changed), the targets.
 */
static void
run_begin(PurgeRun *run)
{
	PurgeRule  *rule = run->rule;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz cutoff_ts;
	TimestampTz limit = retention_limit(now);
	CitusTableKind kind;

	run->started_at = now;
	run->batch_rows = purge_batch_size;
	if (get_rel_name(rule->relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table with OID %u of a retention rule does not exist", rule->relid)));
	/* distributed and reference tables in time slices, other Citus tables not */
	kind = PersonalizeCitusTableKind(rule->relid);
	if (kind == CITUS_OTHER)
		PersonalizeRefuseCitusTable(rule->relid, "the purge");
	run->citus = kind != CITUS_NONE;
	run->time_type = time_column_type(rule->relid, rule->time_column, NULL);
	run->owner = RelationOwnerOid(rule->relid);
	if (rule->condition)
		(void) validate_condition(rule->relid, run->owner, rule->condition, NULL);

	/* never keep longer than max_retention, whatever the rule's calendar */
	cutoff_ts = Max(keep_cutoff(now, &rule->keep), limit);
	if (run->time_type == TIMESTAMPTZOID)
		run->cutoff = TimestampTzGetDatum(cutoff_ts);
	else if (run->time_type == TIMESTAMPOID)
		run->cutoff = DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(cutoff_ts));
	else
		run->cutoff = DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(cutoff_ts));
	run->cutoff = datumCopyInContext(run->cxt, run->cutoff, run->time_type);

	purge_targets(run);
	run->next_drop = list_head(run->droppable);
	run->next_target = list_head(run->targets);
	run->more = run->next_drop != NULL || run->next_target != NULL;
}

/*
 * One step of a run: drop one expired partition, or purge one batch of a
 * target.  Sets run->more.
 */
static void
run_step(PurgeRun *run)
{
	CHECK_FOR_INTERRUPTS();
	if (run->next_drop != NULL)
	{
		List	   *pair = (List *) lfirst(run->next_drop);

		drop_partition(run, linitial_oid(pair), lsecond_oid(pair));
		run->next_drop = lnext(run->droppable, run->next_drop);
	}
	else if (run->next_target != NULL)
	{
		PurgeTarget *target = (PurgeTarget *) lfirst(run->next_target);

		(void) purge_batch(run, target);
		if (target->done)
			run->next_target = lnext(run->targets, run->next_target);
	}
	run->more = run->next_drop != NULL || run->next_target != NULL;
}

/*
 * Finish a run: the log row and the rule's last outcome.  error is NULL on
 * success.
 */
static void
run_end(PurgeRun *run, const char *error)
{
	Oid			argtypes[6] = {INT8OID, OIDOID, TEXTOID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[6];
	char		nulls[6] = "      ";

	values[0] = Int64GetDatum(run->run_id);
	nulls[0] = run->run_id ? ' ' : 'n';
	values[1] = ObjectIdGetDatum(run->rule->relid);
	values[2] = error ? CStringGetTextDatum(error) : (Datum) 0;
	nulls[2] = error ? ' ' : 'n';
	values[3] = Int64GetDatum(run->rows);
	values[4] = TimestampTzGetDatum(run->started_at ? run->started_at : GetCurrentTimestamp());
	values[5] = CStringGetTextDatum(run->started_by);

	if (run->run_id != 0)
		(void) ExtExecute("UPDATE personalize.purge_run SET finished_at = pg_catalog.clock_timestamp(),"
						  " outcome = CASE WHEN $3 IS NULL THEN 'ok' ELSE 'failed' END, error = $3"
						  " WHERE run_id OPERATOR(pg_catalog.=) $1",
						  6, argtypes, values, nulls, false, NULL, NULL);
	else if (error != NULL)
		/* a run that failed before its first batch got a log row */
		(void) ExtExecute("INSERT INTO personalize.purge_run (relid, started_at, finished_at, outcome,"
						  " error, started_by, backend_pid, backend_start)"
						  " SELECT $2, $5, pg_catalog.clock_timestamp(), 'failed', $3, $6,"
						  "  pg_catalog.pg_backend_pid(), a.backend_start"
						  "   FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a",
						  6, argtypes, values, nulls, false, NULL, NULL);
	(void) ExtExecute("UPDATE personalize.retention_rule SET last_run_at = $5,"
					  " last_outcome = CASE WHEN $3 IS NULL THEN 'ok' ELSE 'failed' END,"
					  " last_rows = $4, last_error = $3"
					  " WHERE relid OPERATOR(pg_catalog.=) $2::pg_catalog.regclass",
					  6, argtypes, values, nulls, false, NULL, NULL);
}

/* TryInSubtransaction callbacks */
static void
try_begin(void *arg)
{
	run_begin((PurgeRun *) arg);
}

static void
try_step(void *arg)
{
	run_step((PurgeRun *) arg);
}

static void
try_end(void *arg)
{
	run_end((PurgeRun *) arg, NULL);
}

/* purge() mode: the whole rule, one subtransaction, one SPI connection */
static void
try_whole(void *arg)
{
	PurgeRun   *run = (PurgeRun *) arg;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	run_begin(run);
	while (run->more)
		run_step(run);
	SPI_finish();
	run_end(run, NULL);
}

ErrorData *
RetentionRun(PurgeRule *rule, const char *started_by, MemoryContext runcxt,
			 RetentionCommitFn commit, void *commit_arg, int64 *rows)
{
	PurgeRun   *run = MemoryContextAllocZero(runcxt, sizeof(PurgeRun));
	ErrorData  *edata;

	run->rule = rule;
	run->started_by = started_by;
	run->cxt = runcxt;
	if (commit == NULL)
	{
		edata = TryInSubtransaction(try_whole, run);
		if (edata != NULL)
		{
			/* its batches were rolled back with it */
			run->run_id = 0;
			run->rows = 0;
		}
	}
	else
	{
		edata = TryInSubtransaction(try_begin, run);
		while (edata == NULL && run->more)
		{
			/* what a failed step did is rolled back: so is its accounting */
			int64		run_id = run->run_id;
			int64		nrows = run->rows;

			edata = TryInSubtransaction(try_step, run);
			if (edata != NULL)
			{
				run->run_id = run_id;
				run->rows = nrows;
				break;
			}
			commit(commit_arg, run->more);
		}
		if (edata == NULL)
			edata = TryInSubtransaction(try_end, run);
	}
	if (edata != NULL)
		run_end(run, edata->message);
	*rows = run->rows;
	return edata;
}

/*
 * Mark runs whose backend is gone as interrupted (a crash or an immediate
 * shutdown cut them short).
 */
void
RetentionMarkInterrupted(void)
{
	(void) ExtExecute("WITH gone AS ("
					  "  UPDATE personalize.purge_run r SET outcome = 'interrupted',"
					  "         finished_at = pg_catalog.clock_timestamp(),"
					  "         error = 'the run was cut short (server crash or shutdown)'"
					  "   WHERE r.outcome OPERATOR(pg_catalog.=) 'running'"
					  "     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_get_activity(r.backend_pid) a"
					  "                      WHERE a.backend_start OPERATOR(pg_catalog.=) r.backend_start)"
					  "  RETURNING r.relid, r.started_at)"
					  " UPDATE personalize.retention_rule u SET last_outcome = 'interrupted',"
					  "        last_error = 'the run was cut short (server crash or shutdown)'"
					  "   FROM gone WHERE u.relid OPERATOR(pg_catalog.=) gone.relid"
					  "    AND (u.last_run_at IS NULL OR u.last_run_at OPERATOR(pg_catalog.<=) gone.started_at)",
					  0, NULL, NULL, NULL, false, NULL, NULL);
}

/*
 * Pause between two committed batches, as VACUUM's cost delay does: the
 * purge gives the machine (CPU, WAL, I/O) back to the other sessions.  The
 * commit callbacks call it between two transactions, so no lock or
 * snapshot is held while it sleeps.
 */
void
RetentionPause(void)
{
	int			ms = purge_batch_delay;
	instr_time	start;
	double		left;

	if (PersonalizeInBackgroundWorker() && worker_purge_batch_delay >= 0)
		ms = worker_purge_batch_delay;
	INSTR_TIME_SET_CURRENT(start);
	while ((left = ms - elapsed_ms(start)) > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ceil(left), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The WARNING for a rule that failed; the others go on.
 */
static void
warn_rule_failed(const PurgeRule *rule, const ErrorData *edata)
{
	char	   *name = get_rel_name(rule->relid);

	WarnFailure(edata,
				name ? psprintf("could not purge table \"%s\"", name) :
				psprintf("could not purge table with OID %u", rule->relid),
				NULL);
}

int64
RetentionPurgeAll(const char *started_by)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *rules;
	ListCell   *lc;
	int64		total = 0;

	RetentionMarkInterrupted();
	rules = RetentionRules(InvalidOid, cxt);
	foreach(lc, rules)
	{
		PurgeRule  *rule = (PurgeRule *) lfirst(lc);
		int64		rows;
		ErrorData  *edata = RetentionRun(rule, started_by, cxt, NULL, NULL, &rows);

		if (edata != NULL)
			warn_rule_failed(rule, edata);
		total += rows;
	}
	return total;
}

/*
 * purge(tbl regclass DEFAULT NULL): purge now, in the caller's transaction.
 * With a table, a failure is an error; without, a failing rule is reported
 * with a WARNING and recorded, and the others go on.
 */
Datum
personalize_purge(PG_FUNCTION_ARGS)
{
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	List	   *rules;
	int64		rows;
	ErrorData  *edata;

	if (!OidIsValid(only))
		PG_RETURN_INT64(RetentionPurgeAll("purge()"));

	RetentionMarkInterrupted();
	rules = RetentionRules(only, CurrentMemoryContext);
	if (rules == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no retention rule", rule_table_name(only)),
				 errhint("Set one with personalize.set_retention().")));
	edata = RetentionRun(linitial(rules), "purge()", CurrentMemoryContext, NULL, NULL, &rows);
	if (edata != NULL)
		ReThrowError(edata);
	PG_RETURN_INT64(rows);
}

/* commit callback of run_purge(): end the batch's transaction */
static void
procedure_commit(void *arg pg_attribute_unused(), bool pause)
{
	SPI_commit();
	/* the new transaction has taken no snapshot yet */
	if (pause)
		RetentionPause();
}

/*
 * CALL run_purge(tbl regclass DEFAULT NULL): purge now, committing each
 * batch, as the worker does.  Must be called outside a transaction block.
 */
Datum
personalize_run_purge(PG_FUNCTION_ARGS)
{
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	bool		nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	MemoryContext cxt;
	List	   *rules;
	ListCell   *lc;

	if (!nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("run_purge() commits each batch, so it cannot run inside a transaction block"),
				 errhint("CALL it on its own, or use purge() to purge within the current transaction.")));

	/* what lives across the batches' commits */
	cxt = AllocSetContextCreate(TopMemoryContext, "personalize run_purge",
								ALLOCSET_DEFAULT_SIZES);
	SPI_connect_ext(SPI_OPT_NONATOMIC);
	RetentionMarkInterrupted();
	rules = RetentionRules(only, cxt);
	if (OidIsValid(only) && rules == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no retention rule", rule_table_name(only)),
				 errhint("Set one with personalize.set_retention().")));
	procedure_commit(NULL, false);

	foreach(lc, rules)
	{
		PurgeRule  *rule = (PurgeRule *) lfirst(lc);
		int64		rows;
		ErrorData  *edata = RetentionRun(rule, "run_purge()", cxt, procedure_commit,
										 NULL, &rows);

		/* the outcome (and a failure's record) commits with the last batch */
		procedure_commit(NULL, false);
		if (edata != NULL)
			warn_rule_failed(rule, edata);
	}
	SPI_finish();
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}
