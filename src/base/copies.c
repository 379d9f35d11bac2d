/*-------------------------------------------------------------------------
 *
 * copies.c
 *	  The copies distribute() keeps on a Citus cluster: written only by the
 *	  extension, and naming tables and roles as the coordinator does after
 *	  a rename.
 *
 * The *_replica tables (sql/src/base-citus.sql) are Citus reference tables
 * that the readers on the worker nodes trust as they trust the tables on
 * the coordinator.  Two things would make them lie:
 *
 * - A write that does not come from the extension (the owner's UPDATE of
 *   consent_replica, a TRUNCATE, a COPY into a node's shard): the nodes
 *   would answer differently from the coordinator, silently.  The planner
 *   hook refuses every INSERT, UPDATE, DELETE and MERGE whose target is a
 *   copy or a node's shard of one, after rewriting (so also through a view
 *   or a rule), and the utility hook TRUNCATE and COPY FROM, unless the
 *   statement runs inside the extension's writers
 *   (_replicate(), distribute(), _copy_names_refresh(), which set
 *   personalize.writing_copies for their duration) or arrives from
 *   Citus's own connections, which carry the coordinator's already
 *   checked statement to the shards.
 *
 * - A rename.  access_grant_replica names a grant's table and grantee as
 *   regclass and regrole print them, since OIDs differ between nodes; the
 *   coordinator's grants follow the OIDs.  After a statement that renames
 *   or drops a table, a schema or a role, the utility hook brings the
 *   names in the copy up to date in the same transaction
 *   (_copy_names_refresh()), so that a table or role renamed away keeps
 *   its grants on every node and a new one under the old name gains none.
 *   Roles are not reached by event triggers, which is why this is a hook:
 *   distribute() needs the library preloaded.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/copies.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "base/citus.h"
#include "base/compat.h"
#include "base/copies.h"
#include "base/extension.h"
#include "base/names.h"
#include "base/relations.h"
#include "base/runas.h"

static bool writing_copies = false;

static planner_hook_type prev_planner = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* the copies, as sql/src/base-citus.sql names them */
static const char *const copy_names[] = {
	REL_CONSENT_REPLICA, REL_PURPOSE_REPLICA, REL_ACCESS_GRANT_REPLICA,
	REL_DATA_CATEGORY_REPLICA, REL_TAG_REPLICA, REL_OFFERS_REPLICA,
	REL_OFFER_TAGS_REPLICA, REL_MATCH_VERSION_REPLICA, REL_MATCH_CHANGE_REPLICA,
	REL_INTENT_REPLICA, REL_SIGNAL_REPLICA, REL_INTENT_BY_SUBJECT,
	REL_SIGNAL_BY_SUBJECT, REL_COPY_OUTBOX,
};

/*
 * personalize.writing_copies = on only for the extension's owner (and a
 * superuser): the extension's writers set it in their SET clause, which
 * runs as the owner.  Off is always allowed, as is any value a parallel
 * worker inherits from its leader.
 */
static bool
check_writing_copies(bool *newval, void **extra pg_attribute_unused(), GucSource source)
{
	/*
	 * The writers set it on every call (a trigger per statement of every
	 * intent and signal): the role found allowed is remembered for the rest
	 * of the transaction, which cannot change the extension's owner.
	 */
	static LocalTransactionId allowed_lxid = InvalidLocalTransactionId;
	static Oid	allowed_role = InvalidOid;
	Oid			owner;

	if (!*newval || source == PGC_S_DEFAULT || InitializingParallelWorker)
		return true;
	if (IsTransactionState() && allowed_lxid == PersonalizeLocalXid() &&
		allowed_lxid != InvalidLocalTransactionId && allowed_role == GetUserId())
		return true;
	if (!IsTransactionState() ||
		!OidIsValid(get_extension_oid("personalize", true)))
	{
		GUC_check_errdetail("It is set only by personalize's own functions.");
		return false;
	}
	owner = PersonalizeExtensionOwner();
	if (!has_privs_of_role(GetUserId(), owner))
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errdetail("It is set only by personalize's own functions, which write the copies distribute() keeps.");
		return false;
	}
	allowed_lxid = PersonalizeLocalXid();
	allowed_role = GetUserId();
	return true;
}

/* "<copy>" or "<copy>_<digits>" (a Citus node's shard of it) */
static bool
copy_name(const char *relname)
{
	for (int i = 0; i < (int) lengthof(copy_names); i++)
	{
		size_t		len = strlen(copy_names[i]);
		const char *p;

		if (strncmp(relname, copy_names[i], len) != 0)
			continue;
		p = relname + len;
		if (*p == '\0')
			return true;
		if (*p++ != '_' || *p == '\0')
			continue;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '\0')
			return true;
	}
	return false;
}

/* is relid one of the copies, or a Citus node's shard of one? */
static bool
is_copy(Oid relid)
{
	HeapTuple	tup;
	const char *relname;
	bool		named;
	bool		placed;
	Oid			nspid;

	if (!OidIsValid(relid))
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	relname = NameStr(((Form_pg_class) GETSTRUCT(tup))->relname);
	named = copy_name(relname);
	placed = strcmp(relname, REL_INTENT_BY_SUBJECT) == 0 ||
		strcmp(relname, REL_SIGNAL_BY_SUBJECT) == 0;
	nspid = ((Form_pg_class) GETSTRUCT(tup))->relnamespace;
	ReleaseSysCache(tup);
	if (!named)
		return false;
	if (!OidIsValid(get_extension_oid("personalize", true)) ||
		PersonalizeSchemaOid() != nspid)
		return false;

	/*
	 * intent_by_subject and signal_by_subject are tables of the schema, not
	 * of the extension, which pg_dump keeps; restored, they are local
	 * tables that nothing reads, until distribute() drops them.
	 */
	return !placed || PersonalizeCitusTableKind(relid) != CITUS_NONE;
}

static void
refuse_write(Oid relid, const char *command)
{
	if (writing_copies || creating_extension || !is_copy(relid) ||
		PersonalizeCitusInternalBackend())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s the table %s", command, get_rel_name(relid)),
			 errdetail("It is a copy that personalize.distribute() keeps for the Citus worker nodes, written only by the extension's triggers; a change made by hand would make the nodes answer differently from the coordinator."),
			 errhint("Change the table it copies, or run SELECT * FROM personalize.distribute() to copy afresh.")));
}

static void
refuse_query_writes(Query *query)
{
	ListCell   *lc;

	if (query->resultRelation > 0 &&
		(query->commandType == CMD_INSERT || query->commandType == CMD_UPDATE ||
		 query->commandType == CMD_DELETE || query->commandType == CMD_MERGE))
	{
		RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);

		if (rte->rtekind == RTE_RELATION)
			refuse_write(rte->relid,
						 query->commandType == CMD_INSERT ? "INSERT INTO" :
						 query->commandType == CMD_UPDATE ? "UPDATE" :
						 query->commandType == CMD_DELETE ? "DELETE FROM" : "MERGE INTO");
	}
	/* data-modifying WITH queries */
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (IsA(cte->ctequery, Query))
			refuse_query_writes((Query *) cte->ctequery);
	}
}

static PlannedStmt *
copies_planner(Query *parse, const char *query_string, int cursorOptions,
			   ParamListInfo boundParams)
{
	if (parse->commandType != CMD_SELECT || parse->cteList != NIL)
		refuse_query_writes(parse);
	if (prev_planner)
		return prev_planner(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * After a statement that may have changed how a table or role prints (a
 * rename, a new schema, a drop): on a Citus coordinator whose copies are
 * distributed, bring the copy of the grants up to date.
 */
static bool
renames_or_drops(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_RenameStmt:
			{
				ObjectType	t = ((RenameStmt *) parsetree)->renameType;

				return t == OBJECT_TABLE || t == OBJECT_SCHEMA || t == OBJECT_ROLE ||
					t == OBJECT_FOREIGN_TABLE;
			}
		case T_AlterObjectSchemaStmt:
			{
				ObjectType	t = ((AlterObjectSchemaStmt *) parsetree)->objectType;

				return t == OBJECT_TABLE || t == OBJECT_FOREIGN_TABLE;
			}
		case T_DropRoleStmt:
			return true;
		case T_DropStmt:
			{
				ObjectType	t = ((DropStmt *) parsetree)->removeType;

				return t == OBJECT_TABLE || t == OBJECT_SCHEMA || t == OBJECT_FOREIGN_TABLE;
			}
		case T_DropOwnedStmt:
			return true;
		default:
			return false;
	}
}

static void
refresh_copy_names(void)
{
	Oid			copy;
	Oid			fn;

	if (creating_extension || !IsTransactionState() ||
		!OidIsValid(get_extension_oid("personalize", true)) ||
		!OidIsValid(get_extension_oid("citus", true)) ||
		PersonalizeOnCitusWorker())
		return;
	copy = PersonalizeRelidIfExists(REL_ACCESS_GRANT_REPLICA);
	if (!OidIsValid(copy) || PersonalizeCitusTableKind(copy) != CITUS_REFERENCE)
		return;
	fn = PersonalizeFunctionOid("_copy_names_refresh", 0, NULL, true);
	if (!OidIsValid(fn))
		return;
	(void) OidFunctionCall0(fn);
}

static void
copies_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest,
					  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, TruncateStmt))
	{
		ListCell   *lc;

		foreach(lc, ((TruncateStmt *) parsetree)->relations)
			refuse_write(RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true),
						 "TRUNCATE");
	}
	else if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from &&
			 ((CopyStmt *) parsetree)->relation != NULL)
		refuse_write(RangeVarGetRelid(((CopyStmt *) parsetree)->relation, NoLock, true),
					 "COPY to");

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (renames_or_drops(parsetree))
		refresh_copy_names();
}

/*
 * Before the extension is dropped (DROP EXTENSION, DROP SCHEMA of its
 * schema, DROP OWNED BY its owner), on a Citus coordinator: take the copies
 * that are Citus tables out of the extension and drop them, so that Citus
 * drops their shards on every node.  Dropped with the extension, they
 * would leave their shards, with subjects' rows, outside Citus's metadata.
 * In the dropping transaction: undone if the drop fails.
 */
void
CopiesDropDistributed(void)
{
	char	   *nspname;

	if (PersonalizeOnCitusWorker())
		return;
	nspname = get_namespace_name(PersonalizeSchemaOid());
	for (int i = 0; i < (int) lengthof(copy_names); i++)
	{
		Oid			relid = PersonalizeRelidIfExists(copy_names[i]);
		const char *qualified;
		bool		member;

		if (!OidIsValid(relid))
			continue;
		/* intent_by_subject and signal_by_subject are outside the extension */
		member = getExtensionOfObject(RelationRelationId, relid) ==
			get_extension_oid("personalize", false);
		if (member && PersonalizeCitusTableKind(relid) == CITUS_NONE)
			continue;
		qualified = quote_qualified_identifier(nspname, copy_names[i]);
		if (member)
			(void) ExtExecute(psprintf("ALTER EXTENSION personalize DROP TABLE %s", qualified),
							  0, NULL, NULL, NULL, false, NULL, NULL);
		(void) ExtExecute(psprintf("DROP TABLE %s", qualified),
						  0, NULL, NULL, NULL, false, NULL, NULL);
	}
}

void
CopiesInit(void)
{
	DefineCustomBoolVariable("personalize.writing_copies",
							 gettext_noop("Set by personalize's own functions while they write the copies distribute() keeps on a Citus cluster."),
							 NULL,
							 &writing_copies,
							 false,
							 PGC_USERSET,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							 check_writing_copies, NULL, NULL);

	prev_planner = planner_hook;
	planner_hook = copies_planner;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = copies_ProcessUtility;
}
