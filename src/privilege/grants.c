/*-------------------------------------------------------------------------
 *
 * grants.c
 *	  Least privilege: protect() puts a registered table under row level
 *	  security, and a role sees a subject's row only while it holds an
 *	  active access grant on the table for a purpose the subject's data may
 *	  be used for; grants are time-limited, reasoned, asked for and decided
 *	  by different roles, and every step is in an append-only ledger.
 *
 * The policies.  protect() adds, as the table's owner:
 *
 *	personalize_rows           PERMISSIVE FOR ALL USING (_rows_open()) WITH CHECK (...)
 *	personalize_access_select  RESTRICTIVE FOR SELECT USING (has_access(tbl, subject))
 *	personalize_access_update  RESTRICTIVE FOR UPDATE USING (...) WITH CHECK (...)
 *	personalize_access_delete  RESTRICTIVE FOR DELETE USING (...)
 *
 * The checks are restrictive, so a permissive policy someone adds later
 * cannot widen them; INSERT needs only the INSERT privilege (an application
 * records new rows without a grant, and cannot read them back).
 * _rows_open() is true (the planner folds it away), but it is the
 * extension's: DROP EXTENSION ... CASCADE drops personalize_rows with the
 * checks, and leaves row level security on with no policy at all, so that
 * nobody who could not read the table before reads it after (fail closed).
 *
 * On a Citus table the policies run on the shards, and Citus (13.2)
 * creates a restrictive policy there as a permissive one, which next to
 * personalize_rows would let every row through.  There protect() refuses a
 * table with policies of its own and adds only permissive policies, each
 * the whole rule for its command:
 *
 *	personalize_access_select  PERMISSIVE FOR SELECT USING (has_access(tbl, subject))
 *	personalize_access_insert  PERMISSIVE FOR INSERT WITH CHECK (_rows_open())
 *	personalize_access_update  PERMISSIVE FOR UPDATE USING (...) WITH CHECK (...)
 *	personalize_access_delete  PERMISSIVE FOR DELETE USING (...)
 *
 * and review() reports a policy added later (it would widen them).  The
 * expression is one call of has_access() on the subject column, with the
 * table as a constant: no sub-select, so a distributed table accepts it,
 * and nothing in it is looked up by name when it runs.
 *
 * has_access() (has_access.c, through has_consent()'s call-site reader)
 * reads the grants of the current role on the table once per statement,
 * through the statement's snapshot, and keeps those whose window contains
 * the statement's start: an expiry binds the first statement that starts
 * after it, at every isolation level, whether or not any worker ran; a
 * statement already running finishes with the grants it started with.  A
 * revocation binds like a withdrawal of consent: every statement whose
 * snapshot sees it.  Inside a SECURITY DEFINER function both the function's
 * owner and the role that called it need a grant for the purpose, so that
 * nobody reads rows through a function another role wrote, and a role that
 * holds a grant cannot hand rows out through one.  A grant to a group role
 * covers the roles that have its privileges, as for PostgreSQL privileges.
 *
 * Who may do what: the table's owner protects it; the owner and the
 * approvers the DBA names (add_access_approver) grant and decide requests,
 * never for themselves or a role they are members of; any role that may
 * read the table asks (request_access); the grantee, its grantor, the owner
 * or an approver ends a grant early.  The write paths run as the
 * extension's owner (the tables are not writable otherwise).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/privilege/grants.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "rewrite/rowsecurity.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "privilege/privilege.h"
#include "base/citus.h"
#include "base/compat.h"
#include "base/extension.h"
#include "base/kept.h"
#include "base/runas.h"
#include "base/subject_key.h"
#include "base/text.h"
#include "consent/consent.h"

PG_FUNCTION_INFO_V1(personalize_protect);
PG_FUNCTION_INFO_V1(personalize_unprotect);
PG_FUNCTION_INFO_V1(personalize_add_access_approver);
PG_FUNCTION_INFO_V1(personalize_remove_access_approver);
PG_FUNCTION_INFO_V1(personalize_grant_access);
PG_FUNCTION_INFO_V1(personalize_revoke_access);
PG_FUNCTION_INFO_V1(personalize_request_access);
PG_FUNCTION_INFO_V1(personalize_approve_access);
PG_FUNCTION_INFO_V1(personalize_deny_access);
PG_FUNCTION_INFO_V1(personalize_access_visible);
PG_FUNCTION_INFO_V1(personalize_expire_grants);
PG_FUNCTION_INFO_V1(personalize_grant_use_tracked);
PG_FUNCTION_INFO_V1(personalize_pending_grant_uses);
PG_FUNCTION_INFO_V1(personalize_rows_open_policies);

/* GUC: the longest a grant may last, in seconds */
static int	max_grant_duration_s = 8 * 3600;

/* the expression of the permissive policies: true, while the extension exists */
#define ROWS_OPEN "personalize._rows_open()"

/* the names of protect()'s policies */
static const char *const our_policies[] = {
	"personalize_rows", "personalize_access_select", "personalize_access_insert",
	"personalize_access_update", "personalize_access_delete"
};

/* ---------- use of grants, counted in shared memory ---------- */

#define ACCESS_USE_SLOTS	1024
#define ACCESS_USE_PROBES	16

/*
 * A slot is claimed (grant_id set) and freed under the lock held
 * exclusively; a statement that uses a grant holds it shared and counts
 * with atomics, so that readers of protected tables do not queue.
 */
typedef struct AccessUse
{
	Oid			dbid;
	int64		grant_id;		/* 0: free */
	pg_atomic_uint64 uses;
	pg_atomic_uint64 last_used;	/* a TimestampTz */
} AccessUse;

/* a slot's figures, copied out */
typedef struct AccessUseCopy
{
	int64		grant_id;
	int64		uses;
	TimestampTz last_used;
} AccessUseCopy;

typedef struct AccessShared
{
	LWLock	   *lock;			/* the use slots */
	AccessUse	slots[ACCESS_USE_SLOTS];
} AccessShared;

static AccessShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
access_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(AccessShared)));
	RequestNamedLWLockTranche("personalize access", 1);
}

static void
access_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("personalize access", sizeof(AccessShared), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("personalize access");

		memset(shared, 0, sizeof(AccessShared));
		shared->lock = &locks[0].lock;
		for (int i = 0; i < ACCESS_USE_SLOTS; i++)
		{
			pg_atomic_init_u64(&shared->slots[i].uses, 0);
			pg_atomic_init_u64(&shared->slots[i].last_used, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* count one use in the grant's slot, claiming one if "claim"; false if none */
static bool
note_use(int64 grant_id, uint32 h, bool claim)
{
	for (int i = 0; i < ACCESS_USE_PROBES; i++)
	{
		AccessUse  *u = &shared->slots[(h + i) % ACCESS_USE_SLOTS];

		if (u->grant_id == 0 && claim)
		{
			u->dbid = MyDatabaseId;
			u->grant_id = grant_id;
		}
		if (u->grant_id == grant_id && u->dbid == MyDatabaseId)
		{
			pg_atomic_fetch_add_u64(&u->uses, 1);
			pg_atomic_write_u64(&u->last_used,
								(uint64) GetCurrentStatementStartTimestamp());
			return true;
		}
	}
	return false;
}

void
AccessNoteUse(int64 grant_id)
{
	uint32		h;
	bool		done;

	if (shared == NULL)
		return;
	h = (uint32) (grant_id * UINT64CONST(0x9e3779b97f4a7c15) >> 32);
	LWLockAcquire(shared->lock, LW_SHARED);
	done = note_use(grant_id, h, false);
	LWLockRelease(shared->lock);
	if (!done)
	{
		/* the first use since the last maintenance pass (or a full table) */
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		(void) note_use(grant_id, h, true);
		LWLockRelease(shared->lock);
	}
}

void
PrivilegeInit(void)
{
	DefineCustomIntVariable("personalize.max_grant_duration",
							gettext_noop("The longest time an access grant may last."),
							gettext_noop("grant_access(), request_access() and approve_access() refuse a longer valid_for."),
							&max_grant_duration_s,
							8 * 3600,
							1,
							31 * 24 * 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = access_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = access_shmem_startup;
	}
}

/* ---------- shared checks of the SQL functions ---------- */

static char *
role_name(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name ? name : psprintf("%u", role);
}

static char *
interval_text(Interval *iv)
{
	return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(iv)));
}


static char *
reason_argument(FunctionCallInfo fcinfo, int argno)
{
	char	   *reason;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reason must not be null"),
				 errhint("Say why access is needed, for example the case number.")));
	reason = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (TextIsBlank(reason, strlen(reason)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("reason must not be empty"),
				 errhint("Say why access is needed, for example the case number.")));
	return reason;
}

static void
require_not_null(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

/*
 * The end of a grant that starts at "from" and lasts valid_for: positive,
 * and no longer than personalize.max_grant_duration.
 */
static TimestampTz
grant_until(TimestampTz from, Interval *valid_for)
{
	TimestampTz until;

	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(from),
													IntervalPGetDatum(valid_for)));
	if (until <= from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("access must be granted for a positive time"),
				 errdetail("The time asked for is %s.", interval_text(valid_for)),
				 errhint("Pass the time the work needs, such as '15 minutes'.")));
	if (TIMESTAMP_NOT_FINITE(until) ||
		until - from > (int64) max_grant_duration_s * USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("access cannot be granted for longer than personalize.max_grant_duration (%s)",
						GetConfigOption("personalize.max_grant_duration", false, false)),
				 errdetail("The time asked for is %s.", interval_text(valid_for)),
				 errhint("Grant the time the work needs; grant again when more is needed.")));
	return until;
}

static void
one_bool(HeapTuple tup, TupleDesc desc, void *arg)
{
	bool		isnull;

	*(bool *) arg = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
}

/* the table must be protected */
static void
require_protected(Oid relid)
{
	if (!AccessTableProtected(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not protected", RelationQualifiedName(relid)),
				 errhint("Protect it first with personalize.protect('%s').", RelationQualifiedName(relid))));
}

bool
AccessTableProtected(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		found = false;

	if (!OidIsValid(get_relname_relid("protected_table", PersonalizeSchemaOid())))
		return false;			/* before 0.2.0 */
	values[0] = ObjectIdGetDatum(relid);
	(void) ExtExecute("SELECT true FROM personalize.protected_table"
					  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, true, one_bool, &found);
	return found;
}

bool
AccessOnlyOurPolicies(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, TEXTARRAYOID};
	Datum		values[2];
	Datum		names[lengthof(our_policies)];
	bool		others = true;

	for (int i = 0; i < (int) lengthof(our_policies); i++)
		names[i] = CStringGetTextDatum(our_policies[i]);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(names, lengthof(our_policies), TEXTOID,
												-1, false, TYPALIGN_INT));
	(void) ExtExecute("SELECT EXISTS (SELECT FROM pg_catalog.pg_policy p"
					  " WHERE p.polrelid OPERATOR(pg_catalog.=) $1"
					  "   AND NOT p.polname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2))",
					  2, argtypes, values, NULL, true, one_bool, &others);
	return AccessTableProtected(relid) && !others;
}

/* the owner of the table, or a superuser */
static void
require_owner(Oid relid, const char *what)
{
	if (!PersonalizeRelOwnerCheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", RelationQualifiedName(relid)),
				 errhint("Ask the table's owner to %s it.", what)));
}

typedef struct Approvers
{
	Oid			role;
	bool		found;
} Approvers;

static void
approver_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	Approvers  *a = (Approvers *) arg;
	bool		isnull;
	Oid			approver = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));

	if (!a->found && PrivilegeRoleCovers(a->role, approver))
		a->found = true;
}

/* may role grant access to the table and decide its requests? */
static bool
may_approve(Oid relid, Oid role)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	Approvers	a = {role, false};

	if (superuser_arg(role) || has_privs_of_role(role, RelationOwnerOid(relid)))
		return true;
	values[0] = ObjectIdGetDatum(relid);
	(void) ExtExecute("SELECT approver::pg_catalog.oid FROM personalize.access_approver"
					  " WHERE relid IS NULL OR relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, true, approver_row, &a);
	return a.found;
}

static void
require_approver(Oid relid, const char *action)
{
	if (!may_approve(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s access to table %s", action, RelationQualifiedName(relid)),
				 errdetail("Only the table's owner and the access approvers named for it may %s access.",
						   action),
				 errhint("Ask for access with personalize.request_access(), or have a DBA name an approver with personalize.add_access_approver().")));
}

/*
 * Append an event to the access ledger, as the current role; 0 and NULL
 * arguments are NULL columns.
 */
static void
log_event(const char *action, const char *grantee, const char *table, int32 purpose_id,
		  const char *reason, TimestampTz from, TimestampTz until,
		  int64 grant_id, int64 request_id)
{
	Oid			argtypes[10] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, INT8OID};
	Datum		values[10];
	char		nulls[11] = "          ";

	values[0] = CStringGetTextDatum(action);
	values[1] = CStringGetTextDatum(role_name(GetUserId()));
	values[2] = grantee ? CStringGetTextDatum(grantee) : (Datum) 0;
	nulls[2] = grantee ? ' ' : 'n';
	values[3] = CStringGetTextDatum(table);
	values[4] = Int32GetDatum(purpose_id);
	nulls[4] = purpose_id ? ' ' : 'n';
	values[5] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[5] = reason ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(from);
	nulls[6] = from ? ' ' : 'n';
	values[7] = TimestampTzGetDatum(until);
	nulls[7] = until ? ' ' : 'n';
	values[8] = Int64GetDatum(grant_id);
	nulls[8] = grant_id ? ' ' : 'n';
	values[9] = Int64GetDatum(request_id);
	nulls[9] = request_id ? ' ' : 'n';
	(void) ExtExecute("INSERT INTO personalize.access_event (action, actor, grantee, table_name,"
					  " purpose, reason, valid_from, valid_until, grant_id, request_id)"
					  " SELECT $1, $2, $3, $4, (SELECT p.name FROM personalize.purpose p"
					  "                          WHERE p.purpose_id OPERATOR(pg_catalog.=) $5),"
					  "        $6, $7, $8, $9, $10",
					  10, argtypes, values, nulls, false, NULL, NULL);
}

/* the role must exist (a regrole argument may hold any OID) */
static void
require_role(Oid role)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
}

/*
 * Access is decided by another person than the one who uses it: neither
 * the acting role nor the session user (who may have SET ROLE to a group
 * that approves) may be the grantee, be a member of it, or have it as a
 * member.  what: "grant access to", "approve a request of" ...
 */
static void
require_other_person(Oid grantee, const char *what)
{
	Oid			user = GetUserId();
	Oid			session = GetSessionUserId();

	if (grantee == user)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s yourself", what),
				 errdetail("Separation of duties: access is granted by a role other than the one that uses it."),
				 errhint("Ask another approver, or request access with personalize.request_access().")));
	if (is_member_of_role_nosuper(user, grantee))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s role %s, of which you are a member", what, role_name(grantee)),
				 errdetail("Access granted to role %s would be yours.", role_name(grantee)),
				 errhint("Ask another approver, or request access with personalize.request_access().")));
	if (is_member_of_role_nosuper(grantee, user))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s role %s, which is a member of role %s", what,
						role_name(grantee), role_name(user)),
				 errdetail("Separation of duties: role %s could decide its own access as role %s.",
						   role_name(grantee), role_name(user)),
				 errhint("Ask an approver outside role %s.", role_name(user))));
	if (session == user)
		return;
	if (session == grantee)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s role %s, the role of your session", what, role_name(grantee)),
				 errdetail("Separation of duties holds between persons: acting as role %s does not make you another person.",
						   role_name(user)),
				 errhint("Ask another person to decide, from a session of their own.")));
	if (is_member_of_role_nosuper(session, grantee))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s role %s, of which your session's role %s is a member", what,
						role_name(grantee), role_name(session)),
				 errdetail("Access granted to role %s would be yours after RESET ROLE.", role_name(grantee)),
				 errhint("Ask another person to decide, from a session of their own.")));
	if (is_member_of_role_nosuper(grantee, session))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s role %s, which is a member of your session's role %s", what,
						role_name(grantee), role_name(session)),
				 errdetail("Separation of duties: role %s could decide its own access from a session of role %s.",
						   role_name(grantee), role_name(session)),
				 errhint("Ask another person to decide, from a session of their own.")));
}

/* the extension's owner (a DBA), or a superuser */
static bool
is_dba(Oid role)
{
	return superuser_arg(role) || has_privs_of_role(role, PersonalizeExtensionOwner());
}

/* ---------- protect() and unprotect() ---------- */

typedef struct Registration
{
	char	   *column;
	Oid			typid;
} Registration;

static void
registration_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	Registration *r = (Registration *) arg;
	bool		isnull;

	r->column = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
	r->typid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
}

/* run one DDL statement on the table as its owner */
static void
owner_ddl(Oid owner, const char *sql)
{
	(void) RoleExecute(owner, sql, 0, NULL, NULL, NULL, false, NULL, NULL);
}

/*
 * protect(tbl regclass, force boolean DEFAULT false)
 */
Datum
personalize_protect(PG_FUNCTION_ARGS)
{
	Oid			relid;
	bool		force;
	char	   *qualname;
	Oid			owner;
	Registration reg = {NULL, InvalidOid};
	Oid			argtypes[4] = {OIDOID, BOOLOID, BOOLOID, BOOLOID};
	Datum		values[4];
	HeapTuple	tup;
	bool		rls_before;
	bool		force_before;
	char	   *check;
	bool		citus = false;
	bool		policies = false;

	require_not_null(fcinfo, 0, "table");
	require_not_null(fcinfo, 1, "force");
	relid = PG_GETARG_OID(0);
	force = PG_GETARG_BOOL(1);
	qualname = RelationQualifiedName(relid);
	require_owner(relid, "protect");

	/*
	 * On Citus the policies run on the shards, where has_access() reads the
	 * copy of the grants distribute() keeps.  FORCE cannot: export_subject()
	 * and forget() read and erase as the owner through the policies, and
	 * let their own statements pass only in this backend, not on the
	 * workers, where the owner's DELETE would miss the rows.
	 */
	switch (PersonalizeCitusTableKind(relid))
	{
		case CITUS_NONE:
			break;
		case CITUS_DISTRIBUTED:
		case CITUS_REFERENCE:
			citus = true;
			if (force)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("protect() cannot FORCE row level security on the Citus table %s", qualname),
						 errdetail("With FORCE the owner's own reads and erasures pass the policies only on the coordinator; on the workers forget() would miss the rows."),
						 errhint("Call protect() without force: the table's owner then reads and erases past the policies, on every node.")));
			break;
		case CITUS_OTHER:
			PersonalizeRefuseCitusTable(relid, "protect()");
			break;
	}
	values[0] = ObjectIdGetDatum(relid);
	if (ExtExecute("SELECT s.subject_column::pg_catalog.text, a.atttypid"
				   "  FROM personalize.subject_table s"
				   "  JOIN pg_catalog.pg_attribute a"
				   "    ON a.attrelid OPERATOR(pg_catalog.=) s.relid::pg_catalog.oid"
				   "   AND a.attname OPERATOR(pg_catalog.=) s.subject_column"
				   " WHERE s.relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				   1, argtypes, values, NULL, true, registration_row, &reg) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not registered", qualname),
				 errhint("Register it with personalize.register_table(), naming the column that identifies the subject.")));
	if (AccessTableProtected(relid))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table %s is already protected", qualname),
				 errhint("To change FORCE, call personalize.unprotect() and protect() again.")));
	if (citus)
	{
		(void) ExtExecute("SELECT EXISTS (SELECT FROM pg_catalog.pg_policy p"
						  " WHERE p.polrelid OPERATOR(pg_catalog.=) $1)",
						  1, argtypes, values, NULL, true, one_bool, &policies);
		if (policies)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("protect() cannot protect the Citus table %s, which has row level security policies of its own",
							qualname),
					 errdetail("On Citus, protect()'s policies are permissive (Citus creates restrictive policies on the shards as permissive ones), and another permissive policy would let rows through."),
					 errhint("Drop the table's policies first, or keep the table local to the coordinator.")));
	}

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	rls_before = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	force_before = ((Form_pg_class) GETSTRUCT(tup))->relforcerowsecurity;
	ReleaseSysCache(tup);

	/* the policies, as the table's owner */
	owner = RelationOwnerOid(relid);
	check = psprintf("personalize.has_access(%s::pg_catalog.regclass, %s)",
					 quote_literal_cstr(qualname),
					 SubjectArgument("", quote_identifier(reg.column), reg.typid));
	if (citus)
	{
		/*
		 * Citus runs a DDL statement's shard commands over several
		 * connections per node; a shard's policy names the table, whose
		 * lock another connection of the transaction holds: one connection
		 * per node, for these statements only.
		 */
		int			nest = NewGUCNestLevel();

		(void) set_config_option("citus.multi_shard_modify_mode", "sequential",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		owner_ddl(owner, psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qualname));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_select ON %s AS PERMISSIVE"
								  " FOR SELECT USING (%s)", qualname, check));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_insert ON %s AS PERMISSIVE"
								  " FOR INSERT WITH CHECK (" ROWS_OPEN ")", qualname));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_update ON %s AS PERMISSIVE"
								  " FOR UPDATE USING (%s) WITH CHECK (%s)", qualname, check, check));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_delete ON %s AS PERMISSIVE"
								  " FOR DELETE USING (%s)", qualname, check));
		AtEOXact_GUC(true, nest);
	}
	else
	{
		owner_ddl(owner, psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", qualname));
		if (force)
			owner_ddl(owner, psprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", qualname));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_rows ON %s AS PERMISSIVE FOR ALL"
								  " USING (" ROWS_OPEN ") WITH CHECK (" ROWS_OPEN ")", qualname));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_select ON %s AS RESTRICTIVE"
								  " FOR SELECT USING (%s)", qualname, check));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_update ON %s AS RESTRICTIVE"
								  " FOR UPDATE USING (%s) WITH CHECK (%s)", qualname, check, check));
		owner_ddl(owner, psprintf("CREATE POLICY personalize_access_delete ON %s AS RESTRICTIVE"
								  " FOR DELETE USING (%s)", qualname, check));
	}

	values[1] = BoolGetDatum(force);
	values[2] = BoolGetDatum(rls_before);
	values[3] = BoolGetDatum(force_before);
	(void) ExtExecute("INSERT INTO personalize.protected_table (relid, forced, rls_before, force_before)"
					  " VALUES ($1, $2, $3, $4)",
					  4, argtypes, values, NULL, false, NULL, NULL);
	log_event("protect", NULL, qualname, 0, force ? "FORCE ROW LEVEL SECURITY" : NULL,
			  0, 0, 0, 0);
	PG_RETURN_VOID();
}

typedef struct Before
{
	bool		rls;
	bool		force;
} Before;

static void
before_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	Before	   *b = (Before *) arg;
	bool		isnull;

	b->rls = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
	b->force = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
}

/*
 * unprotect(tbl regclass)
 */
Datum
personalize_unprotect(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *qualname;
	Oid			owner;
	Before		before = {false, false};
	int			nest;
	bool		citus;
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];

	require_not_null(fcinfo, 0, "table");
	relid = PG_GETARG_OID(0);
	qualname = RelationQualifiedName(relid);
	require_owner(relid, "unprotect");
	values[0] = ObjectIdGetDatum(relid);
	if (ExtExecute("SELECT rls_before, force_before FROM personalize.protected_table"
				   " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass FOR UPDATE",
				   1, argtypes, values, NULL, false, before_row, &before) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not protected", qualname)));

	owner = RelationOwnerOid(relid);
	/* on Citus, one connection per node (see protect()) */
	citus = PersonalizeCitusTableKind(relid) != CITUS_NONE;
	nest = NewGUCNestLevel();
	if (citus)
		(void) set_config_option("citus.multi_shard_modify_mode", "sequential",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	for (int i = 0; i < (int) lengthof(our_policies); i++)
	{
		Oid			types[2] = {OIDOID, TEXTOID};
		Datum		args[2];
		bool		exists = false;

		/* each form has its own (protect()), and a table may have been distributed since */
		args[0] = ObjectIdGetDatum(relid);
		args[1] = CStringGetTextDatum(our_policies[i]);
		(void) ExtExecute("SELECT EXISTS (SELECT FROM pg_catalog.pg_policy p"
						  " WHERE p.polrelid OPERATOR(pg_catalog.=) $1"
						  "   AND p.polname::pg_catalog.text OPERATOR(pg_catalog.=) $2)",
						  2, types, args, NULL, true, one_bool, &exists);
		if (exists)
			owner_ddl(owner, psprintf("DROP POLICY %s ON %s", our_policies[i], qualname));
	}
	if (!before.force)
		owner_ddl(owner, psprintf("ALTER TABLE %s NO FORCE ROW LEVEL SECURITY", qualname));
	if (!before.rls)
		owner_ddl(owner, psprintf("ALTER TABLE %s DISABLE ROW LEVEL SECURITY", qualname));
	AtEOXact_GUC(true, nest);

	/* its active grants end, its pending requests are denied */
	values[1] = CStringGetTextDatum(role_name(GetUserId()));
	values[2] = CStringGetTextDatum(qualname);
	(void) ExtExecute("INSERT INTO personalize.access_event (action, actor, grantee, table_name,"
					  " purpose, reason, valid_from, valid_until, grant_id)"
					  " SELECT 'revoke', $2, g.grantee::pg_catalog.text, $3, p.name,"
					  "        'the table was unprotected', g.valid_from, g.valid_until, g.grant_id"
					  "   FROM personalize.access_grant g JOIN personalize.purpose p USING (purpose_id)"
					  "  WHERE g.relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND g.ended_at IS NULL"
					  "    AND g.valid_until OPERATOR(pg_catalog.>) pg_catalog.now()"
					  "  ORDER BY g.grant_id",
					  3, argtypes, values, NULL, false, NULL, NULL);
	(void) ExtExecute("INSERT INTO personalize.access_event (action, actor, grantee, table_name,"
					  " purpose, reason, request_id)"
					  " SELECT 'deny', $2, r.requester::pg_catalog.text, $3, p.name,"
					  "        'the table was unprotected', r.request_id"
					  "   FROM personalize.access_request r JOIN personalize.purpose p USING (purpose_id)"
					  "  WHERE r.relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
					  "    AND r.state OPERATOR(pg_catalog.=) 'pending'"
					  "  ORDER BY r.request_id",
					  3, argtypes, values, NULL, false, NULL, NULL);
	/* grants, requests and approvers of the table go with it (the ledger stays) */
	(void) ExtExecute("DELETE FROM personalize.protected_table"
					  " WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, false, NULL, NULL);
	log_event("unprotect", NULL, qualname, 0, NULL, 0, 0, 0, 0);
	PG_RETURN_VOID();
}

/* ---------- approvers ---------- */

static void
approver_arguments(FunctionCallInfo fcinfo, Oid *approver, Oid *relid, char **table)
{
	Oid			user = GetUserId();

	require_not_null(fcinfo, 0, "approver");
	*approver = PG_GETARG_OID(0);
	require_role(*approver);
	*relid = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	if (OidIsValid(*relid))
	{
		*table = RelationQualifiedName(*relid);
		require_protected(*relid);
		if (!is_dba(user) && !PersonalizeRelOwnerCheck(*relid, user))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to name access approvers for table %s", *table),
					 errdetail("The table's owner and the extension's owner name the approvers of a table.")));
	}
	else
	{
		*table = "every protected table";
		if (!is_dba(user))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to name access approvers for every protected table"),
					 errdetail("The extension's owner names the approvers of every table; a table's owner, those of the table."),
					 errhint("Name the table.")));
	}
}

/*
 * add_access_approver(approver regrole, tbl regclass DEFAULT NULL)
 */
Datum
personalize_add_access_approver(PG_FUNCTION_ARGS)
{
	Oid			approver;
	Oid			relid;
	char	   *table;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	char		nulls[3] = "  ";

	approver_arguments(fcinfo, &approver, &relid, &table);
	values[0] = ObjectIdGetDatum(approver);
	values[1] = ObjectIdGetDatum(relid);
	nulls[1] = OidIsValid(relid) ? ' ' : 'n';
	if (ExtExecute("INSERT INTO personalize.access_approver (approver, relid)"
				   " VALUES ($1::pg_catalog.regrole, $2::pg_catalog.regclass) ON CONFLICT DO NOTHING",
				   2, argtypes, values, nulls, false, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("role %s is already an access approver for %s", role_name(approver), table)));
	log_event("add_approver", role_name(approver), table, 0, NULL, 0, 0, 0, 0);
	PG_RETURN_VOID();
}

/*
 * remove_access_approver(approver regrole, tbl regclass DEFAULT NULL)
 */
Datum
personalize_remove_access_approver(PG_FUNCTION_ARGS)
{
	Oid			approver;
	Oid			relid;
	char	   *table;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	char		nulls[3] = "  ";

	approver_arguments(fcinfo, &approver, &relid, &table);
	values[0] = ObjectIdGetDatum(approver);
	values[1] = ObjectIdGetDatum(relid);
	nulls[1] = OidIsValid(relid) ? ' ' : 'n';
	if (ExtExecute("DELETE FROM personalize.access_approver"
				   " WHERE approver OPERATOR(pg_catalog.=) $1::pg_catalog.regrole"
				   "   AND relid IS NOT DISTINCT FROM $2::pg_catalog.regclass",
				   2, argtypes, values, nulls, false, NULL, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role %s is not an access approver for %s", role_name(approver), table)));
	log_event("remove_approver", role_name(approver), table, 0, NULL, 0, 0, 0, 0);
	PG_RETURN_VOID();
}

/* ---------- grants ---------- */

static void
one_int8(HeapTuple tup, TupleDesc desc, void *arg)
{
	bool		isnull;

	*(int64 *) arg = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
}

static int64
insert_grant(Oid relid, Oid grantee, int32 purpose_id, TimestampTz from,
			 TimestampTz until, const char *reason, int64 request_id)
{
	Oid			argtypes[10] = {OIDOID, OIDOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TEXTOID, TEXTOID, INT8OID, OIDOID, OIDOID};
	Datum		values[10];
	char		nulls[11] = "          ";
	int64		grant_id = 0;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(grantee);
	values[2] = Int32GetDatum(purpose_id);
	values[3] = TimestampTzGetDatum(from);
	values[4] = TimestampTzGetDatum(until);
	values[5] = CStringGetTextDatum(reason);
	values[6] = CStringGetTextDatum(role_name(GetUserId()));
	values[7] = Int64GetDatum(request_id);
	nulls[7] = request_id ? ' ' : 'n';
	/* who decided, by role and by person: has_access() checks them again */
	values[8] = ObjectIdGetDatum(GetUserId());
	values[9] = ObjectIdGetDatum(GetSessionUserId());
	(void) ExtExecute("INSERT INTO personalize.access_grant (relid, grantee, purpose_id,"
					  " valid_from, valid_until, reason, granted_by, request_id,"
					  " granter, granter_session)"
					  " VALUES ($1::pg_catalog.regclass, $2::pg_catalog.regrole, $3, $4, $5, $6, $7, $8,"
					  "         $9::pg_catalog.regrole, $10::pg_catalog.regrole)"
					  " RETURNING grant_id",
					  10, argtypes, values, nulls, false, one_int8, &grant_id);
	return grant_id;
}

/*
 * grant_access(role regrole, tbl regclass, purpose text, valid_for interval,
 *				reason text) RETURNS bigint
 */
Datum
personalize_grant_access(PG_FUNCTION_ARGS)
{
	Oid			grantee;
	Oid			relid;
	int32		purpose_id;
	char	   *reason;
	TimestampTz from = GetCurrentTransactionStartTimestamp();
	TimestampTz until;
	int64		grant_id;

	require_not_null(fcinfo, 0, "role");
	require_not_null(fcinfo, 1, "table");
	require_not_null(fcinfo, 2, "purpose");
	require_not_null(fcinfo, 3, "valid_for");
	grantee = PG_GETARG_OID(0);
	relid = PG_GETARG_OID(1);
	require_role(grantee);
	require_protected(relid);
	purpose_id = PurposeId(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	until = grant_until(from, PG_GETARG_INTERVAL_P(3));
	reason = reason_argument(fcinfo, 4);
	require_approver(relid, "grant");
	require_other_person(grantee, "grant access to");

	grant_id = insert_grant(relid, grantee, purpose_id, from, until, reason, 0);
	log_event("grant", role_name(grantee), RelationQualifiedName(relid), purpose_id, reason,
			  from, until, grant_id, 0);
	PG_RETURN_INT64(grant_id);
}

typedef struct GrantRow
{
	bool		found;
	Oid			relid;
	Oid			grantee;
	int32		purpose_id;
	TimestampTz from;
	TimestampTz until;
	bool		ended;
	TimestampTz ended_at;
	char	   *granted_by;
} GrantRow;

static void
grant_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	GrantRow   *g = (GrantRow *) arg;
	bool		isnull;

	g->found = true;
	g->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	g->grantee = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	g->purpose_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	g->from = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
	g->until = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	g->ended_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	g->ended = !isnull;
	g->granted_by = TextDatumGetCString(SPI_getbinval(tup, desc, 7, &isnull));
}

static char *
timestamptz_text(TimestampTz t)
{
	return DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(t)));
}

/*
 * revoke_access(grant_id bigint)
 */
Datum
personalize_revoke_access(PG_FUNCTION_ARGS)
{
	int64		grant_id;
	GrantRow	g;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	Oid			user = GetUserId();
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	require_not_null(fcinfo, 0, "grant id");
	grant_id = PG_GETARG_INT64(0);
	memset(&g, 0, sizeof(g));
	values[0] = Int64GetDatum(grant_id);
	(void) ExtExecute("SELECT relid::pg_catalog.oid, grantee::pg_catalog.oid, purpose_id,"
					  "       valid_from, valid_until, ended_at, granted_by::pg_catalog.text"
					  "  FROM personalize.access_grant WHERE grant_id OPERATOR(pg_catalog.=) $1"
					  "   FOR UPDATE",
					  1, argtypes, values, NULL, false, grant_row, &g);
	if (!g.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("access grant " INT64_FORMAT " does not exist", grant_id),
				 errhint("The view personalize.access_grants lists the active grants you may see.")));
	if (g.ended || g.until <= now)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("access grant " INT64_FORMAT " has already ended", grant_id),
				 g.ended ? errdetail("It was revoked at %s.", timestamptz_text(g.ended_at)) :
				 errdetail("It expired at %s.", timestamptz_text(g.until))));
	if (!may_approve(g.relid, user) && !PrivilegeRoleCovers(user, g.grantee) &&
		strcmp(g.granted_by, role_name(user)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to revoke access grant " INT64_FORMAT, grant_id),
				 errdetail("The grantee, the role that granted it, the table's owner and its approvers may end a grant.")));
	(void) ExtExecute("UPDATE personalize.access_grant SET ended_at = pg_catalog.now()"
					  " WHERE grant_id OPERATOR(pg_catalog.=) $1",
					  1, argtypes, values, NULL, false, NULL, NULL);
	log_event("revoke", role_name(g.grantee), RelationQualifiedName(g.relid), g.purpose_id, NULL,
			  g.from, g.until, grant_id, 0);
	PG_RETURN_VOID();
}

/* ---------- requests ---------- */

/*
 * request_access(tbl regclass, purpose text, valid_for interval,
 *				  reason text) RETURNS bigint
 */
Datum
personalize_request_access(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int32		purpose_id;
	Interval   *valid_for;
	char	   *reason;
	Oid			user = GetUserId();
	Oid			argtypes[5] = {OIDOID, OIDOID, INT4OID, INTERVALOID, TEXTOID};
	Datum		values[5];
	int64		request_id = 0;

	require_not_null(fcinfo, 0, "table");
	require_not_null(fcinfo, 1, "purpose");
	require_not_null(fcinfo, 2, "valid_for");
	relid = PG_GETARG_OID(0);
	require_protected(relid);
	purpose_id = PurposeId(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	valid_for = PG_GETARG_INTERVAL_P(2);
	(void) grant_until(GetCurrentTransactionStartTimestamp(), valid_for);
	reason = reason_argument(fcinfo, 3);
	if (pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", RelationQualifiedName(relid)),
				 errdetail("An access grant shows rows of a table the role may read, and role %s has no SELECT privilege on it.",
						   role_name(user)),
				 errhint("Ask for the privilege first.")));

	values[0] = ObjectIdGetDatum(user);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = Int32GetDatum(purpose_id);
	values[3] = IntervalPGetDatum(valid_for);
	values[4] = CStringGetTextDatum(reason);
	(void) ExtExecute("INSERT INTO personalize.access_request (requester, relid, purpose_id,"
					  " valid_for, reason)"
					  " VALUES ($1::pg_catalog.regrole, $2::pg_catalog.regclass, $3, $4, $5)"
					  " RETURNING request_id",
					  5, argtypes, values, NULL, false, one_int8, &request_id);
	log_event("request", role_name(user), RelationQualifiedName(relid), purpose_id, reason,
			  0, 0, 0, request_id);
	PG_RETURN_INT64(request_id);
}

typedef struct RequestRow
{
	bool		found;
	Oid			requester;
	Oid			relid;
	int32		purpose_id;
	Interval   *valid_for;
	char	   *reason;
	char	   *state;
	char	   *decided_by;
	TimestampTz decided_at;
} RequestRow;

static void
request_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	RequestRow *r = (RequestRow *) arg;
	bool		isnull;
	Datum		d;

	r->found = true;
	r->requester = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	r->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	r->purpose_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	d = SPI_getbinval(tup, desc, 4, &isnull);
	r->valid_for = palloc(sizeof(Interval));
	memcpy(r->valid_for, DatumGetIntervalP(d), sizeof(Interval));
	r->reason = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
	r->state = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
	d = SPI_getbinval(tup, desc, 7, &isnull);
	r->decided_by = isnull ? "?" : TextDatumGetCString(d);
	r->decided_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
}

/*
 * The pending request, locked, that the current role may decide: an
 * approver of its table, another person than its requester
 * (require_other_person()).
 */
static RequestRow
decidable_request(FunctionCallInfo fcinfo, const char *action)
{
	RequestRow	r;
	int64		request_id;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	Oid			user = GetUserId();

	require_not_null(fcinfo, 0, "request id");
	request_id = PG_GETARG_INT64(0);
	memset(&r, 0, sizeof(r));
	values[0] = Int64GetDatum(request_id);
	(void) ExtExecute("SELECT requester::pg_catalog.oid, relid::pg_catalog.oid, purpose_id,"
					  "       valid_for, reason, state, decided_by::pg_catalog.text, decided_at"
					  "  FROM personalize.access_request"
					  " WHERE request_id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					  1, argtypes, values, NULL, false, request_row, &r);
	if (!r.found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("access request " INT64_FORMAT " does not exist", request_id),
				 errhint("The view personalize.access_requests lists the pending requests you may see.")));
	if (strcmp(r.state, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("access request " INT64_FORMAT " has already been %s", request_id, r.state),
				 errdetail("Role %s decided it at %s.", r.decided_by, timestamptz_text(r.decided_at))));
	require_approver(r.relid, action);
	if (r.requester == user)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s your own access request", action),
				 errdetail("Separation of duties: the approver of a request is never its requester."),
				 errhint("Ask another approver.")));
	if (is_member_of_role_nosuper(user, r.requester))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot %s a request of role %s, of which you are a member",
						action, role_name(r.requester)),
				 errdetail("Separation of duties: the approver of a request is never its requester."),
				 errhint("Ask another approver.")));
	require_other_person(r.requester, psprintf("%s a request of", action));
	return r;
}

static void
decide_request(int64 request_id, const char *state, const char *reason, int64 grant_id)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[5];
	char		nulls[6] = "     ";

	values[0] = Int64GetDatum(request_id);
	values[1] = CStringGetTextDatum(state);
	values[2] = CStringGetTextDatum(role_name(GetUserId()));
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason ? ' ' : 'n';
	values[4] = Int64GetDatum(grant_id);
	nulls[4] = grant_id ? ' ' : 'n';
	(void) ExtExecute("UPDATE personalize.access_request"
					  "   SET state = $2, decided_by = $3, decided_at = pg_catalog.now(),"
					  "       decision_reason = $4, grant_id = $5"
					  " WHERE request_id OPERATOR(pg_catalog.=) $1",
					  5, argtypes, values, nulls, false, NULL, NULL);
}

/*
 * approve_access(request_id bigint) RETURNS bigint: the grant's id
 */
Datum
personalize_approve_access(PG_FUNCTION_ARGS)
{
	RequestRow	r = decidable_request(fcinfo, "approve");
	int64		request_id = PG_GETARG_INT64(0);
	TimestampTz from = GetCurrentTransactionStartTimestamp();
	TimestampTz until = grant_until(from, r.valid_for);
	char	   *table = RelationQualifiedName(r.relid);
	int64		grant_id;

	grant_id = insert_grant(r.relid, r.requester, r.purpose_id, from, until, r.reason, request_id);
	decide_request(request_id, "approved", NULL, grant_id);
	log_event("approve", role_name(r.requester), table, r.purpose_id, r.reason,
			  from, until, grant_id, request_id);
	log_event("grant", role_name(r.requester), table, r.purpose_id, r.reason,
			  from, until, grant_id, request_id);
	PG_RETURN_INT64(grant_id);
}

/*
 * deny_access(request_id bigint, reason text)
 */
Datum
personalize_deny_access(PG_FUNCTION_ARGS)
{
	RequestRow	r = decidable_request(fcinfo, "deny");
	int64		request_id = PG_GETARG_INT64(0);
	char	   *reason = reason_argument(fcinfo, 1);

	decide_request(request_id, "denied", reason, 0);
	log_event("deny", role_name(r.requester), RelationQualifiedName(r.relid), r.purpose_id, reason,
			  0, 0, 0, request_id);
	PG_RETURN_VOID();
}

/*
 * _access_visible(tbl regclass, role regrole): may the current role see a
 * grant or request of role on the table?
 */
Datum
personalize_access_visible(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			role = PG_GETARG_OID(1);
	Oid			user = GetUserId();

	PG_RETURN_BOOL(superuser_arg(user) || PrivilegeRoleCovers(user, role) ||
				   may_approve(relid, user));
}

/* ---------- maintenance ---------- */

/*
 * _expire_grants() RETURNS bigint: write the use counted in shared memory
 * into access_grant, and an "expire" event for each grant past its end;
 * returns the grants that expired.
 */
Datum
personalize_expire_grants(PG_FUNCTION_ARGS)
{
	AccessUseCopy *uses = NULL;
	int			nuses = 0;
	int64		expired = 0;

	if (shared != NULL)
	{
		uses = palloc(sizeof(AccessUseCopy) * ACCESS_USE_SLOTS);
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		for (int i = 0; i < ACCESS_USE_SLOTS; i++)
		{
			AccessUse  *u = &shared->slots[i];

			if (u->grant_id != 0 && u->dbid == MyDatabaseId)
			{
				uses[nuses].grant_id = u->grant_id;
				uses[nuses].uses = (int64) pg_atomic_read_u64(&u->uses);
				uses[nuses].last_used = (TimestampTz) pg_atomic_read_u64(&u->last_used);
				nuses++;
				u->grant_id = 0;
				u->dbid = InvalidOid;
				pg_atomic_write_u64(&u->uses, 0);
				pg_atomic_write_u64(&u->last_used, 0);
			}
		}
		LWLockRelease(shared->lock);
	}
	for (int i = 0; i < nuses; i++)
	{
		Oid			argtypes[3] = {INT8OID, INT8OID, TIMESTAMPTZOID};
		Datum		values[3];

		values[0] = Int64GetDatum(uses[i].grant_id);
		values[1] = Int64GetDatum(uses[i].uses);
		values[2] = TimestampTzGetDatum(uses[i].last_used);
		(void) ExtExecute("UPDATE personalize.access_grant"
						  "   SET uses = uses OPERATOR(pg_catalog.+) $2,"
						  "       last_used_at = GREATEST(last_used_at, $3)"
						  " WHERE grant_id OPERATOR(pg_catalog.=) $1",
						  3, argtypes, values, NULL, false, NULL, NULL);
	}
	expired = (int64) ExtExecute(
		"INSERT INTO personalize.access_event (action, actor, grantee, table_name, purpose,"
		" valid_from, valid_until, grant_id, occurred_at)"
		" SELECT 'expire', CURRENT_USER, g.grantee::pg_catalog.text,"
		"        g.relid::pg_catalog.text, p.name, g.valid_from, g.valid_until, g.grant_id,"
		"        g.valid_until"
		"   FROM personalize.access_grant g JOIN personalize.purpose p USING (purpose_id)"
		"  WHERE g.ended_at IS NULL AND g.valid_until OPERATOR(pg_catalog.<=) pg_catalog.now()"
		"    AND NOT EXISTS (SELECT FROM personalize.access_event e"
		"                     WHERE e.grant_id OPERATOR(pg_catalog.=) g.grant_id"
		"                       AND e.action OPERATOR(pg_catalog.=) 'expire')"
		"  ORDER BY g.valid_until, g.grant_id",
		0, NULL, NULL, NULL, false, NULL, NULL);
	PG_RETURN_INT64(expired);
}

/*
 * _grant_use_tracked() RETURNS boolean: is the use of grants counted (the
 * library is in shared_preload_libraries)?
 */
Datum
personalize_grant_use_tracked(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(shared != NULL);
}

/*
 * _pending_grant_uses(grant_id bigint) RETURNS bigint: uses counted in
 * shared memory and not yet written into access_grant.
 */
Datum
personalize_pending_grant_uses(PG_FUNCTION_ARGS)
{
	int64		grant_id = PG_GETARG_INT64(0);
	int64		n = 0;

	if (shared == NULL)
		PG_RETURN_INT64(0);
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < ACCESS_USE_SLOTS; i++)
		if (shared->slots[i].grant_id == grant_id && shared->slots[i].dbid == MyDatabaseId)
			n += (int64) pg_atomic_read_u64(&shared->slots[i].uses);
	LWLockRelease(shared->lock);
	PG_RETURN_INT64(n);
}

typedef struct PolicyRow
{
	Oid			relid;
	char	   *name;
} PolicyRow;

static void
policy_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	List	  **rows = (List **) arg;
	PolicyRow  *p = palloc(sizeof(PolicyRow));
	bool		isnull;

	p->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
	p->name = SPI_getvalue(tup, desc, 2);
	*rows = lappend(*rows, p);
}

/*
 * _rows_open_policies() RETURNS integer: for the update to 0.3.0.  The
 * permissive policies protect() made before said "true"; now they call
 * _rows_open(), so that they go with the extension (see the head of the
 * file).  Each is altered as its table's owner.  Returns how many were.
 * Only an extension script may call it.
 */
Datum
personalize_rows_open_policies(PG_FUNCTION_ARGS)
{
	List	   *rows = NIL;
	ListCell   *lc;

	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("_rows_open_policies() can only be called by the extension's upgrade scripts")));
	(void) ExtExecute("SELECT p.polrelid, p.polname::pg_catalog.text"
					  "  FROM pg_catalog.pg_policy p"
					  "  JOIN personalize.protected_table t"
					  "    ON t.relid::pg_catalog.oid OPERATOR(pg_catalog.=) p.polrelid"
					  " WHERE p.polname IN ('personalize_rows', 'personalize_access_insert')"
					  " ORDER BY 1, 2",
					  0, NULL, NULL, NULL, true, policy_row, &rows);
	foreach(lc, rows)
	{
		PolicyRow  *p = (PolicyRow *) lfirst(lc);
		int			nest = NewGUCNestLevel();

		/* on Citus, one connection per node (see protect()) */
		if (PersonalizeCitusTableKind(p->relid) != CITUS_NONE)
			(void) set_config_option("citus.multi_shard_modify_mode", "sequential",
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		owner_ddl(RelationOwnerOid(p->relid),
				  psprintf(strcmp(p->name, "personalize_rows") == 0 ?
						   "ALTER POLICY %s ON %s USING (" ROWS_OPEN ") WITH CHECK (" ROWS_OPEN ")" :
						   "ALTER POLICY %s ON %s WITH CHECK (" ROWS_OPEN ")",
						   quote_identifier(p->name), RelationQualifiedName(p->relid)));
		AtEOXact_GUC(true, nest);
	}
	PG_RETURN_INT32(list_length(rows));
}
