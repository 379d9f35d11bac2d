/*-------------------------------------------------------------------------
 *
 * has_access.c
 *	  has_access(), the expression of protect()'s row policies: does the
 *	  current role hold an active grant on the table for a purpose the
 *	  subject's data may be used for?
 *
 * The grants of the current role on the table are read once per statement,
 * through the statement's snapshot, and kept between statements for a few
 * tables while the snapshot provably sees the same grants (base/kept.c).
 * A grant counts while its window contains the statement's start: an
 * expiry binds the first statement that starts after it, at every
 * isolation level, whether or not any worker ran.  Each grant's purpose is
 * then checked per subject through the consent module's call-site state
 * (may_process(): consent, or no objection), so a protected table costs
 * what a consent filter costs.
 *
 * Inside a SECURITY DEFINER function both the function's owner and the
 * role that called it need a grant for the purpose.  A grant to a group
 * role covers the roles that have its privileges, as for PostgreSQL
 * privileges.  On a Citus worker the grants are read from the node's shard
 * of the copy distribute() keeps.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/privilege/has_access.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "rewrite/rowsecurity.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "base/bypass.h"
#include "base/citus.h"
#include "base/extension.h"
#include "base/kept.h"
#include "base/relations.h"
#include "consent/consent.h"
#include "privilege/privilege.h"

PG_FUNCTION_INFO_V1(personalize_has_access_text);
PG_FUNCTION_INFO_V1(personalize_has_access_int8);
PG_FUNCTION_INFO_V1(personalize_has_access_uuid);

/*
 * What a has_access() call site keeps for its statement (the consent
 * site's extra state): the current role's grants on the table, the state
 * of each granted purpose, and which grants let rows through.
 */
typedef struct SiteGrants
{
	Oid			relid;
	Oid			user;
	Oid			outer;
	AccessGrants *grants;
	PurposeState **purposes;
	bool	   *used;			/* this statement read rows through grant i */
} SiteGrants;

/* does role have the privileges of grantee (a superuser only of itself)? */
bool
PrivilegeRoleCovers(Oid role, Oid grantee)
{
	if (role == grantee)
		return true;
	if (superuser_arg(role))
		return false;
	return has_privs_of_role(role, grantee);
}

/*
 * Could role x act as role g, or g as x (one is the other, or a member of
 * it)?  Separation of duties holds between persons: a role that can act as
 * the grantee would grant itself, and a grantee that can act as the role
 * that decides could have decided for itself.  Superusers are not taken as
 * members of every role (they read every row anyway).
 */
bool
PrivilegeRolesEntangled(Oid x, Oid g)
{
	if (!OidIsValid(x) || !OidIsValid(g))
		return false;
	return x == g || is_member_of_role_nosuper(x, g) || is_member_of_role_nosuper(g, x);
}

/*
 * A role named as regrole prints it (quoted where needed), or InvalidOid
 * when this node has no such role.  A role dropped on the coordinator
 * prints as its OID there, a bare number, which names no role (regrole
 * quotes an existing role whose name is a number).
 */
static Oid
role_by_printed_name(const char *printed)
{
	size_t		len = strlen(printed);

	if (len > 0 && strspn(printed, "0123456789") == len)
		return InvalidOid;

	if (len >= 2 && printed[0] == '"' && printed[len - 1] == '"')
	{
		StringInfoData name;

		initStringInfo(&name);
		for (size_t i = 1; i < len - 1; i++)
		{
			appendStringInfoChar(&name, printed[i]);
			if (printed[i] == '"' && printed[i + 1] == '"')
				i++;
		}
		return get_role_oid(name.data, true);
	}
	return get_role_oid(printed, true);
}

/*
 * The grants of a table that were not ended and end after "at", as snap
 * sees them; kept between statements for a few tables (KeptReadState()).
 * The window (valid_from, valid_until) is checked against each statement's
 * start by the caller.
 */
typedef struct CachedGrant
{
	Oid			grantee;
	Oid			granter;		/* the role that decided, or InvalidOid */
	Oid			granter_session;	/* and the session user it decided from */
	int32		purpose_id;
	int64		grant_id;
	TimestampTz from;
	TimestampTz until;
} CachedGrant;

typedef struct GrantCache
{
	Oid			relid;			/* InvalidOid: free */
	Oid			grel;			/* access_grant it was read from */
	KeptRead	read;			/* what the snapshot it was read with saw */
	TimestampTz at;				/* rows end after this time */
	int			n;
	CachedGrant *rows;			/* in TopMemoryContext */
} GrantCache;

#define GRANT_CACHE_TABLES	8

static GrantCache grant_cache[GRANT_CACHE_TABLES];
static int	grant_cache_next = 0;

static CachedGrant *
grant_rows(Oid relid, Snapshot snap, TimestampTz at, int *nrows)
{
	KeptRead	read;
	bool		keep = KeptReadState(snap, &read);
	GrantCache *c = NULL;
	Oid			grel;
	Oid			gidx;
	AttrNumber	att_relid,
				att_grantee,
				att_purpose,
				att_from,
				att_until,
				att_ended,
				att_id,
				att_granter,
				att_granter_session;
	CachedGrant *rows;
	int			n = 0;
	int			space = 8;
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		copies = PersonalizeReadsCopies();
	Datum		relkey;

	/*
	 * On a Citus worker, a protected distributed table's policy runs here:
	 * read the node's shard of the copy distribute() keeps, which names
	 * tables and roles as regclass and regrole print them (OIDs differ
	 * between nodes).
	 */
	grel = PersonalizeReadRelid(REL_ACCESS_GRANT, "has_access()");
	for (int i = 0; i < GRANT_CACHE_TABLES; i++)
		if (grant_cache[i].relid == relid)
			c = &grant_cache[i];
	if (keep && c != NULL && c->grel == grel && KeptReadSame(&c->read, &read) && at >= c->at)
	{
		*nrows = c->n;
		return c->rows;
	}

	gidx = PersonalizeReadRelid(IDX_ACCESS_GRANT_WINDOW, "has_access()");
	att_relid = PersonalizeAttnum(grel, "relid");
	att_grantee = PersonalizeAttnum(grel, "grantee");
	att_purpose = PersonalizeAttnum(grel, "purpose_id");
	att_from = PersonalizeAttnum(grel, "valid_from");
	att_until = PersonalizeAttnum(grel, "valid_until");
	att_ended = PersonalizeAttnum(grel, "ended_at");
	att_id = PersonalizeAttnum(grel, "grant_id");
	/* who decided: from 0.3.0, and not in the Citus copy */
	att_granter = get_attnum(grel, "granter");
	att_granter_session = get_attnum(grel, "granter_session");
	rows = palloc(sizeof(CachedGrant) * space);

	rel = table_open(grel, AccessShareLock);
	if (copies)
	{
		relkey = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
																get_rel_name(relid)));
		ScanKeyEntryInitialize(&key[0], 0, att_relid, BTEqualStrategyNumber, InvalidOid,
							   C_COLLATION_OID, F_TEXTEQ, relkey);
	}
	else
		ScanKeyInit(&key[0], att_relid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], att_until, BTGreaterStrategyNumber, F_TIMESTAMPTZ_GT,
				TimestampTzGetDatum(at));
	scan = systable_beginscan(rel, gidx, true, snap, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		CachedGrant *r;

		(void) heap_getattr(tup, att_ended, desc, &isnull);
		if (!isnull)
			continue;			/* revoked */
		if (n == space)
		{
			space *= 2;
			rows = repalloc(rows, sizeof(CachedGrant) * space);
		}
		r = &rows[n++];
		if (copies)
			r->grantee = role_by_printed_name(TextDatumGetCString(heap_getattr(tup, att_grantee,
																			   desc, &isnull)));
		else
			r->grantee = DatumGetObjectId(heap_getattr(tup, att_grantee, desc, &isnull));
		r->purpose_id = DatumGetInt32(heap_getattr(tup, att_purpose, desc, &isnull));
		r->grant_id = DatumGetInt64(heap_getattr(tup, att_id, desc, &isnull));
		r->from = DatumGetTimestampTz(heap_getattr(tup, att_from, desc, &isnull));
		r->until = DatumGetTimestampTz(heap_getattr(tup, att_until, desc, &isnull));
		r->granter = r->granter_session = InvalidOid;
		if (att_granter != InvalidAttrNumber)
		{
			Datum		d = heap_getattr(tup, att_granter, desc, &isnull);

			r->granter = isnull ? InvalidOid : DatumGetObjectId(d);
			d = heap_getattr(tup, att_granter_session, desc, &isnull);
			r->granter_session = isnull ? InvalidOid : DatumGetObjectId(d);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (keep)
	{
		if (c == NULL)
		{
			c = &grant_cache[grant_cache_next];
			grant_cache_next = (grant_cache_next + 1) % GRANT_CACHE_TABLES;
		}
		if (c->rows != NULL)
			pfree(c->rows);
		c->rows = NULL;
		c->relid = InvalidOid;
		c->rows = MemoryContextAlloc(TopMemoryContext, sizeof(CachedGrant) * Max(n, 1));
		memcpy(c->rows, rows, sizeof(CachedGrant) * n);
		pfree(rows);
		rows = c->rows;
		c->relid = relid;
		c->grel = grel;
		c->read = read;
		c->at = at;
		c->n = n;
	}
	*nrows = n;
	return rows;
}

/*
 * On a Citus worker: refuse a table with protect()'s local form of the
 * policies (protected before it was distributed, which Citus 13.2 itself
 * refuses, or given them by hand).  Citus creates restrictive policies on
 * the shards as permissive ones, next to personalize_rows: every row would
 * pass.
 */
static void
refuse_local_policy_form(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		local_form = false;
	ListCell   *lc;

	if (rel->rd_rsdesc != NULL)
		foreach(lc, rel->rd_rsdesc->policies)
		{
			RowSecurityPolicy *policy = (RowSecurityPolicy *) lfirst(lc);

			if (strcmp(policy->policy_name, "personalize_rows") == 0)
				local_form = true;
		}
	table_close(rel, AccessShareLock);
	if (local_form)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the Citus table %s was protected before it was distributed", RelationQualifiedName(relid)),
				 errdetail("Citus creates protect()'s restrictive policies on the shards as permissive ones, which would let every row through."),
				 errhint("On the coordinator, call personalize.unprotect() and personalize.protect() on the table again.")));
}

AccessGrants *
AccessLoadGrants(Oid relid, Snapshot snap, TimestampTz at, Oid user, Oid outer)
{
	AccessGrants *g = palloc0(sizeof(AccessGrants));
	int			nrows;
	CachedGrant *rows;
	int32	   *outer_purposes = NULL;
	int			nouter = 0;

	if (PersonalizeOnCitusWorker())
		refuse_local_policy_form(relid);
	rows = grant_rows(relid, snap, at, &nrows);

	g->purpose_ids = palloc(sizeof(int32) * Max(nrows, 1));
	g->grant_ids = palloc(sizeof(int64) * Max(nrows, 1));
	if (outer != user)
		outer_purposes = palloc(sizeof(int32) * Max(nrows, 1));

	for (int r = 0; r < nrows; r++)
	{
		CachedGrant *row = &rows[r];
		bool		known = false;

		if (row->from > at || row->until <= at)
			continue;			/* not yet, or no longer */

		/*
		 * Separation of duties, again at each use: a grant stops counting
		 * once the role or the person that decided it can act as its
		 * grantee, or the grantee as them (a role created, granted and
		 * joined by its approver; a grantee since made an approver's
		 * member).  Memberships are not kept between statements.
		 */
		if (PrivilegeRolesEntangled(row->granter, row->grantee) ||
			PrivilegeRolesEntangled(row->granter_session, row->grantee))
			continue;
		if (outer != user && PrivilegeRoleCovers(outer, row->grantee))
			outer_purposes[nouter++] = row->purpose_id;
		if (!PrivilegeRoleCovers(user, row->grantee))
			continue;
		for (int i = 0; i < g->n; i++)
			if (g->purpose_ids[i] == row->purpose_id)
				known = true;
		if (known)
			continue;
		g->purpose_ids[g->n] = row->purpose_id;
		g->grant_ids[g->n] = row->grant_id;
		g->n++;
	}

	/* inside a SECURITY DEFINER function: the caller needs a grant too */
	if (outer != user)
	{
		int			kept = 0;

		for (int i = 0; i < g->n; i++)
		{
			bool		both = false;

			for (int j = 0; j < nouter; j++)
				if (outer_purposes[j] == g->purpose_ids[i])
					both = true;
			if (both)
			{
				g->purpose_ids[kept] = g->purpose_ids[i];
				g->grant_ids[kept] = g->grant_ids[i];
				kept++;
			}
		}
		g->n = kept;
	}
	return g;
}

/*
 * The grants of the current role on a protected table, and the state of
 * each granted purpose: read once per snapshot, role and table.
 */
static SiteGrants *
access_load(ConsentSite *site, Oid relid)
{
	Oid			user = GetUserId();
	Oid			outer = GetOuterUserId();
	SiteGrants *sg = ConsentSiteExtra(site);
	MemoryContext old;

	if (sg != NULL && sg->relid == relid && sg->user == user && sg->outer == outer)
		return sg;
	old = MemoryContextSwitchTo(ConsentSiteMemory(site));
	sg = palloc0(sizeof(SiteGrants));
	sg->grants = AccessLoadGrants(relid, ConsentSiteSnapshot(site), ConsentSiteStart(site),
								  user, outer);
	sg->purposes = palloc0(sizeof(PurposeState *) * Max(sg->grants->n, 1));
	sg->used = palloc0(sizeof(bool) * Max(sg->grants->n, 1));
	MemoryContextSwitchTo(old);
	for (int i = 0; i < sg->grants->n; i++)
		sg->purposes[i] = ConsentSitePurpose(site, sg->grants->purpose_ids[i]);
	sg->relid = relid;
	sg->user = user;
	sg->outer = outer;
	ConsentSiteSetExtra(site, sg);
	return sg;
}

/* grant i let this statement read a row: count the grant used, once */
static inline bool
access_granted(ConsentSite *site, SiteGrants *sg, int i)
{
	if (!sg->used[i])
	{
		sg->used[i] = true;
		/* counted where the grants live: a Citus worker's reads are not */
		if (!ConsentSiteReadsCopies(site))
			AccessNoteUse(sg->grants->grant_ids[i]);
	}
	return true;
}

/*
 * has_access(tbl regclass, subject text): does the current role hold an
 * active grant on the table for a purpose the subject's data may be used
 * for (may_process)?  The policy expression of protect().
 */
Datum
personalize_has_access_text(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	text	   *subject = PG_GETARG_TEXT_PP(1);
	const char *s = VARDATA_ANY(subject);
	int			len = VARSIZE_ANY_EXHDR(subject);
	ConsentSite *site;
	SiteGrants *sg;

	if (PolicyBypassed(relid, s, len))
		PG_RETURN_BOOL(true);
	site = ConsentSiteGet(fcinfo, true);
	sg = access_load(site, relid);
	for (int i = 0; i < sg->grants->n; i++)
		if (ConsentAnswerText(site, sg->purposes[i], s, len))
			PG_RETURN_BOOL(access_granted(site, sg, i));
	PG_RETURN_BOOL(false);
}

/*
 * has_access(tbl regclass, subject bigint)
 */
Datum
personalize_has_access_int8(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		subject = PG_GETARG_INT64(1);
	ConsentSite *site;
	SiteGrants *sg;

	if (PolicyBypassActive(relid))
	{
		char		buf[MAXINT8LEN + 1];
		int			len = pg_lltoa(subject, buf);

		if (PolicyBypassed(relid, buf, len))
			PG_RETURN_BOOL(true);
	}
	site = ConsentSiteGet(fcinfo, true);
	sg = access_load(site, relid);
	for (int i = 0; i < sg->grants->n; i++)
		if (ConsentAnswerInt8(site, sg->purposes[i], subject))
			PG_RETURN_BOOL(access_granted(site, sg, i));
	PG_RETURN_BOOL(false);
}

/*
 * has_access(tbl regclass, subject uuid)
 */
Datum
personalize_has_access_uuid(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	pg_uuid_t  *subject = PG_GETARG_UUID_P(1);
	ConsentSite *site;
	SiteGrants *sg;

	if (PolicyBypassActive(relid))
	{
		char	   *str = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(subject)));

		if (PolicyBypassed(relid, str, strlen(str)))
			PG_RETURN_BOOL(true);
	}
	site = ConsentSiteGet(fcinfo, true);
	sg = access_load(site, relid);
	for (int i = 0; i < sg->grants->n; i++)
		if (ConsentAnswerUuid(site, sg->purposes[i], subject))
			PG_RETURN_BOOL(access_granted(site, sg, i));
	PG_RETURN_BOOL(false);
}

