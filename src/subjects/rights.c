/*-------------------------------------------------------------------------
 *
 * rights.c
 *	  The subject's rights: export_subject() gives everything held about a
 *	  subject, forget() erases it.
 *
 * Both start the same way (rights_begin()): the key is checked, a Citus
 * worker node refuses (its local tables hold none of the subject's data),
 * and the caller's own privileges are checked on every registered table
 * that holds rows of the subject: a table the caller may not read (or
 * delete from), or on which row-level security would hide some of them,
 * stops the call before anything is changed or returned.  A table without
 * the subject's rows asks nothing of the caller, so one table its owner
 * never granted to the privacy officer cannot block everyone's requests.  The tables are then read or erased as each
 * table's owner, in a restricted security context (base/runas.c), so that
 * the owner's triggers, rules, casts and defaults never run with the
 * caller's privileges; a protected table's policies let these statements
 * through for this subject only (base/bypass.c).  The extension's own data
 * (consents, history, intents, signals) is read or erased as the
 * extension's owner, by fixed statements.
 *
 * forget() holds the subject's lock alone for the rest of the transaction,
 * so no grant, intent or signal of the subject can commit while it erases;
 * it replaces the subject's key in the consent history by the keyed
 * pseudonym (which the chain already hashed), and names the partners that
 * received the subject's data and must be told (GDPR Art. 19).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/subjects/rights.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

#include "base/bypass.h"
#include "base/citus.h"
#include "base/pseudonym.h"
#include "base/relations.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "consent/consent.h"
#include "ledgers/ledgers.h"
#include "privilege/privilege.h"
#include "subjects/subjects.h"

PG_FUNCTION_INFO_V1(personalize_export_subject);
PG_FUNCTION_INFO_V1(personalize_forget);

/*
 * What the extension holds about a subject ($1), beyond its consents and
 * their purposes: the consent history, intents, signals, and the rows of
 * the registered tables ($2 their names, $3 each one's rows as jsonb).
 */
static const char *const export_sql =
	"SELECT pg_catalog.jsonb_build_object("
	" 'subject', $1,"
	" 'exported_at', pg_catalog.now(),"
	" 'consent_history', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'event_id', h.event_id, 'purpose', h.purpose, 'action', h.action,"
	"     'source', h.source, 'expires_at', h.expires_at, 'occurred_at', h.occurred_at)"
	"     ORDER BY h.event_id), '[]')"
	"   FROM personalize.consent_history h WHERE h.subject OPERATOR(pg_catalog.=) $1),"
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
	"   FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(n, r)))";

/*
 * The subject's consents, each with whether it is in effect now, and the
 * purposes the history names: in a database at 0.2.0 or later with their
 * lawful bases and whether the basis holds (may_process()); at 0.1.0,
 * which has no lawful bases, whether consent is given (has_consent()).
 * Each adds its keys to the object $1.
 */
static const char *const export_consents_sql[2] = {
	"SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
	" 'consents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'purpose', c.purpose, 'status', c.status, 'source', c.source,"
	"     'updated_at', c.updated_at, 'expires_at', c.expires_at,"
	"     'effective', personalize.has_consent(c.subject, c.purpose))"
	"     ORDER BY c.purpose), '[]')"
	"   FROM personalize.consents c WHERE c.subject OPERATOR(pg_catalog.=) $2),"
	" 'purposes', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'purpose', p.name, 'description', p.description, 'value_exchange', p.value_exchange,"
	"     'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(pc.category ORDER BY pc.category), '[]')"
	"                      FROM personalize.purpose_category pc"
	"                     WHERE pc.purpose_id OPERATOR(pg_catalog.=) p.purpose_id))"
	"     ORDER BY p.name), '[]')"
	"   FROM personalize.purpose p"
	"  WHERE p.purpose_id IN (SELECT e.purpose_id FROM personalize.consent_event e"
	"                          WHERE e.subject OPERATOR(pg_catalog.=) $2)))",
	"SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
	" 'consents', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'purpose', c.purpose, 'status', c.status, 'source', c.source,"
	"     'updated_at', c.updated_at, 'expires_at', c.expires_at,"
	"     'effective', personalize.may_process(c.subject, c.purpose), 'lawful_basis', c.lawful_basis)"
	"     ORDER BY c.purpose), '[]')"
	"   FROM personalize.consents c WHERE c.subject OPERATOR(pg_catalog.=) $2),"
	" 'purposes', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'purpose', p.name, 'description', p.description, 'value_exchange', p.value_exchange,"
	"     'lawful_basis', p.lawful_basis,"
	"     'categories', (SELECT COALESCE(pg_catalog.jsonb_agg(pc.category ORDER BY pc.category), '[]')"
	"                      FROM personalize.purpose_category pc"
	"                     WHERE pc.purpose_id OPERATOR(pg_catalog.=) p.purpose_id))"
	"     ORDER BY p.name), '[]')"
	"   FROM personalize.purpose p"
	"  WHERE p.purpose_id IN (SELECT e.purpose_id FROM personalize.consent_event e"
	"                          WHERE e.subject OPERATOR(pg_catalog.=) $2)))",
};

/*
 * forget()'s erasure of the extension's data about the subject ($1): its
 * intents, signals and current consents go, a "forget" event names it by
 * its pseudonym ($2), and the report says what was erased ($3 the
 * registered tables, $4 the rows deleted from each, $5 the history entries
 * pseudonymized).
 */
static const char *const forget_sql =
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
	"  'forget_event_id', (SELECT event_id FROM e))";

/*
 * The partners that received the data of the subject whose pseudonym is
 * $2, added to the object $1 under key $3 (a database at 0.2.0 or later,
 * which has the custody log): for export_subject() (GDPR Art. 15(1)(c)),
 * with how often and since when ($4), and for forget(), whose erasure they
 * must be told of (Art. 19).
 */
static const char *const recipients_sql =
	"SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($3,"
	" (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
	"     'partner', r.partner, 'agreement', r.agreement, 'tables', r.tables,"
	"     'categories', r.categories, 'last_shared_at', r.last_shared_at)"
	"   OPERATOR(pg_catalog.||) CASE WHEN $4 THEN pg_catalog.jsonb_build_object("
	"     'shares', r.shares, 'first_shared_at', r.first_shared_at) ELSE '{}' END), '[]')"
	"   FROM personalize._recipients_by_pseudonym($2) r))";

/*
 * Stop before reading anything if row-level security would hide some of
 * the subject's rows from a table's owner, as whom the table is read:
 * FORCE ROW LEVEL SECURITY with policies other than the extension's own.
 */
static void
check_owners_see_all(List *tables)
{
	StringInfoData forced;
	ListCell   *lc;

	initStringInfo(&forced);
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);

		if (check_enable_rls(t->relid, t->owner, true) == RLS_ENABLED &&
			(!AccessOnlyOurPolicies(t->relid) ||
			 /* the shards' policies do not know this backend's own statements */
			 PersonalizeCitusTableKind(t->relid) != CITUS_NONE))
			appendStringInfo(&forced, "%s%s", forced.len ? ", " : "", t->qualname);
	}
	if (forced.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security could hide some of the subject's rows from the table's owner"),
				 errdetail("The tables are read and erased as their owner, and FORCE ROW LEVEL SECURITY applies to the owner on: %s.",
						   forced.data),
				 errhint("Let the owner see every row (ALTER TABLE ... NO FORCE ROW LEVEL SECURITY, or a policy for the owner); nothing was changed.")));
}

/*
 * Stop before changing anything if the caller lacks a privilege on a
 * registered table that holds rows of the subject (held[i]), or if
 * row-level security would hide some of them from the caller.  A table
 * without the subject's rows asks nothing of the caller: a table its owner
 * registered and never granted to the privacy officer blocks the requests
 * of its own subjects, not everyone's.  action names the operation in
 * messages.
 */
static void
check_caller_access(List *tables, const bool *held, bool need_delete,
					const char *action, const char *function)
{
	StringInfoData denied;
	StringInfoData hidden;
	ListCell   *lc;
	Oid			role = GetUserId();
	int			i = 0;

	initStringInfo(&denied);
	initStringInfo(&hidden);
	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		bool		can_select;
		bool		can_delete = true;

		if (!held[i++])
			continue;
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
	}
	if (denied.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s subject data", action),
				 errdetail("The subject has rows in registered tables on which the current role lacks privileges: %s.",
						   denied.data),
				 errhint("Grant them, or call %s() as a role that has them; nothing was changed.",
						 function)));
	if (hidden.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("row-level security could hide some of the subject's rows"),
				 errdetail("The subject has rows in registered tables on which row-level security applies to the current role: %s.",
						   hidden.data),
				 errhint("Call %s() as the tables' owner or a role with BYPASSRLS, so that no row is missed; nothing was changed.",
						 function)));
}

/*
 * Run "<verb> FROM <table> t WHERE <subject column> = <the subject>" on each
 * registered table, as its owner, seeing the subject's rows even when FORCE
 * binds the owner (base/bypass.c).  names[i] gets the table's name and
 * results[i] the statement's first value (as jsonb), or, with rows, the
 * number of rows it processed; a table whose column cannot hold the key
 * has no row of the subject, nor has one where held (if given) says so.
 * A statement that changes rows, or one that must see what committed
 * while the caller waited for the subject's lock (fresh), takes a new
 * snapshot; the others read the caller's.
 */
static void
each_table(List *tables, const char *subject, const bool *held,
		   const char *verb, bool rows, bool fresh,
		   Datum *names, Datum *results, bool *isnull)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, tables)
	{
		SubjectTable *t = (SubjectTable *) lfirst(lc);
		Datum		value;
		char	   *sql;

		names[i] = CStringGetTextDatum(t->qualname);
		results[i] = rows ? Int64GetDatum(0) : (Datum) 0;
		isnull[i] = !rows;
		if ((held == NULL || held[i]) && SubjectTableValue(t, subject, &value))
		{
			sql = psprintf("%s FROM %s t WHERE t.%s %s $1", verb, t->qualname,
						   quote_identifier(t->colname), t->eqop);
			PolicyBypassBegin(t->relid, subject);
			if (rows)
				results[i] = Int64GetDatum((int64) RoleExecute(t->owner, sql, 1, &t->typid,
															   &value, NULL, false,
															   NULL, NULL));
			else
				results[i] = RoleValue(t->owner, sql, 1, &t->typid, &value, NULL, !fresh,
									   &isnull[i]);
			PolicyBypassEnd();
		}
		i++;
	}
}

/*
 * Which registered tables hold rows of the subject, as each table's owner
 * sees them: an array in the order of tables.  An erasure (fresh) sees
 * what committed while it waited for the subject's lock.  A row another
 * session commits later is as one committed after the call: neither read
 * nor erased.
 */
static bool *
subject_tables_held(List *tables, const char *subject, bool fresh)
{
	int			n = list_length(tables);
	Datum	   *names = palloc(sizeof(Datum) * (n + 1));
	Datum	   *found = palloc(sizeof(Datum) * (n + 1));
	bool	   *isnull = palloc(sizeof(bool) * (n + 1));
	bool	   *held = palloc(sizeof(bool) * (n + 1));

	each_table(tables, subject, NULL, "SELECT pg_catalog.bool_or(true)", false, fresh,
			   names, found, isnull);
	for (int i = 0; i < n; i++)
		held[i] = !isnull[i];
	pfree(names);
	pfree(found);
	pfree(isnull);
	return held;
}

/*
 * The start of export_subject() and forget(): the subject's key, checked;
 * on a Citus worker node a refusal; the registered tables, referencing
 * tables first, with the caller's privileges checked on each that holds
 * rows of the subject (*held, in the order of the tables).  forget()
 * (erase) takes the subject's lock alone first.
 */
static List *
rights_begin(FunctionCallInfo fcinfo, bool erase, text **subject, bool **held)
{
	List	   *tables;

	*subject = SubjectKeyArgument(fcinfo, 0);
	if (erase)
	{
		/* no grant or intent of this subject can commit while we erase */
		SubjectLock(VARDATA_ANY(*subject), VARSIZE_ANY_EXHDR(*subject), true);
		PersonalizeRefuseCitusWorker("forget()",
									 "erased from the node's local tables, which hold none of the subject's data: nothing would be erased");
	}
	else
		PersonalizeRefuseCitusWorker("export_subject()",
									 "read from the node's local tables, which hold none of the subject's data: the export would be empty");
	tables = SubjectTablesLoad();
	check_owners_see_all(tables);
	*held = subject_tables_held(tables, text_to_cstring(*subject), erase);
	if (erase)
		check_caller_access(tables, *held, true, "erase", "forget");
	else
		check_caller_access(tables, *held, false, "export", "export_subject");
	return tables;
}
/*
 * Add the partners that received the subject's data, under key, in a
 * database that has the custody log: for an export, with how often and
 * since when.  The export reads the pseudonym key and never makes one
 * (without a key nothing was ever shared, and a standby can export).
 */
static Datum
add_recipients(Datum object, text *subject, const char *key, bool erase)
{
	char	   *pseudonym;
	Oid			argtypes[4] = {JSONBOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];
	bool		isnull;

	if (!CustodyLogExists())
		return object;
	pseudonym = erase ?
		SubjectPseudonym(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject)) :
		SubjectPseudonymIfKey(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	values[0] = object;
	values[1] = pseudonym ? CStringGetTextDatum(pseudonym) : (Datum) 0;
	values[2] = CStringGetTextDatum(key);
	values[3] = BoolGetDatum(!erase);
	return ExtValue(recipients_sql, 4, argtypes, values, pseudonym ? NULL : " n  ", true,
					&isnull);
}

/*
 * export_subject(subject text): everything held about the subject, as jsonb.
 */
Datum
personalize_export_subject(PG_FUNCTION_ARGS)
{
	text	   *subject;
	bool	   *held;
	List	   *tables = rights_begin(fcinfo, false, &subject, &held);
	char	   *subject_str = text_to_cstring(subject);
	int			ntables = list_length(tables);
	Datum	   *names = palloc(sizeof(Datum) * (ntables + 1));
	Datum	   *rows = palloc(sizeof(Datum) * (ntables + 1));
	bool	   *isnull = palloc(sizeof(bool) * (ntables + 1));
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, JSONBARRAYOID};
	Datum		values[3];
	Datum		result;
	bool		null;

	/* the registered tables, each read as its owner */
	each_table(tables, subject_str, held,
			   "SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t))", false, false,
			   names, rows, isnull);
	for (int i = 0; i < ntables; i++)
		if (isnull[i])
			rows[i] = DirectFunctionCall1(jsonb_in, CStringGetDatum("[]"));

	/* the extension's own data about the subject, read as its owner */
	values[0] = PointerGetDatum(subject);
	values[1] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(rows, ntables, JSONBOID,
												-1, false, TYPALIGN_INT));
	result = ExtValue(export_sql, 3, argtypes, values, NULL, true, &null);
	argtypes[0] = JSONBOID;
	argtypes[1] = TEXTOID;
	values[0] = result;
	values[1] = PointerGetDatum(subject);
	result = ExtValue(export_consents_sql[PurposeHasLawfulBases() ? 1 : 0],
					  2, argtypes, values, NULL, true, &null);
	PG_RETURN_DATUM(add_recipients(result, subject, "recipients", false));
}

/*
 * forget(subject text): erase the subject from every registered table and
 * from the extension's data; pseudonymize its consent history.  Returns
 * what was done, as jsonb.
 */
Datum
personalize_forget(PG_FUNCTION_ARGS)
{
	text	   *subject;
	bool	   *held;
	List	   *tables = rights_begin(fcinfo, true, &subject, &held);
	char	   *subject_str = text_to_cstring(subject);
	int			ntables = list_length(tables);
	Datum	   *names = palloc(sizeof(Datum) * (ntables + 1));
	Datum	   *counts = palloc(sizeof(Datum) * (ntables + 1));
	bool	   *isnull = palloc(sizeof(bool) * (ntables + 1));
	Oid		   *relids = palloc(sizeof(Oid) * (ntables + 1));
	Oid		   *owners = palloc(sizeof(Oid) * (ntables + 1));
	char	   *pseudonym;
	Oid			argtypes[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID, INT8OID};
	Datum		values[5];
	Datum		result;
	bool		null;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, tables)
	{
		relids[i] = ((SubjectTable *) lfirst(lc))->relid;
		owners[i] = ((SubjectTable *) lfirst(lc))->owner;
		i++;
	}
	PersonalizeCitusRefuseErasure(relids, owners, ntables,
								  PersonalizeRelidIfExists(REL_CONSENT_REPLICA));

	/* the registered tables, referencing tables first, each as its owner */
	each_table(tables, subject_str, held, "DELETE", true, true, names, counts, isnull);

	/* the extension's data, as its owner */
	pseudonym = SubjectPseudonym(VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
	values[0] = PointerGetDatum(subject);
	values[1] = CStringGetTextDatum(pseudonym);
	values[2] = PointerGetDatum(construct_array(names, ntables, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(counts, ntables, INT8OID,
												8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	/*
	 * The maintenance duty that expires consents writes history without
	 * the subject's lock, holding the consent rows instead: wait for it, so
	 * that its entries are pseudonymized too.  One that comes later finds
	 * the rows gone.
	 */
	(void) ExtExecute("SELECT FROM personalize.consent"
					  " WHERE subject OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					  1, argtypes, values, NULL, false, NULL, NULL);
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
	result = ExtValue(forget_sql, 5, argtypes, values, NULL, false, &null);
	PG_RETURN_DATUM(add_recipients(result, subject, "partners_to_notify", true));
}
