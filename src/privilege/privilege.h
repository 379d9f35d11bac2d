/*-------------------------------------------------------------------------
 *
 * privilege.h
 *	  Least privilege: protected tables, time-limited access grants asked
 *	  for and decided by different roles (grants.c), and has_access(), the
 *	  policy that reads them (has_access.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/privilege/privilege.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_PRIVILEGE_H
#define PERSONALIZE_PRIVILEGE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/snapshot.h"

extern void PrivilegeInit(void);

/*
 * The purposes for which the current role (user, and outer, the role that
 * called a SECURITY DEFINER function, when it differs) holds active grants
 * on a table at time "at", read through snap; each with the grant that
 * covers user.  Allocated in the current memory context.
 */
typedef struct AccessGrants
{
	int			n;
	int32	   *purpose_ids;
	int64	   *grant_ids;
} AccessGrants;

extern AccessGrants *AccessLoadGrants(Oid relid, Snapshot snap, TimestampTz at,
									  Oid user, Oid outer);

/* does role have the privileges of grantee (a superuser only of itself)? */
extern bool PrivilegeRoleCovers(Oid role, Oid grantee);

/*
 * Could role x act as role g, or g as x (one is the other, or a member of
 * it)?  Separation of duties: neither may decide access for the other.
 */
extern bool PrivilegeRolesEntangled(Oid x, Oid g);

/* a statement read rows through the grant (counted in shared memory) */
extern void AccessNoteUse(int64 grant_id);

/*
 * Is the table protected by protect() (false in a database older than
 * 0.2.0)?  Do its row level security policies all come from protect()?
 */
extern bool AccessTableProtected(Oid relid);
extern bool AccessOnlyOurPolicies(Oid relid);

#endif							/* PERSONALIZE_PRIVILEGE_H */
