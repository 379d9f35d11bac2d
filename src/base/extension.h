/*-------------------------------------------------------------------------
 *
 * extension.h
 *	  Where the extension and its objects are (extension.c).
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/extension.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PERSONALIZE_EXTENSION_H
#define PERSONALIZE_EXTENSION_H

#include "postgres.h"

#include "access/attnum.h"

#include "base/names.h"

/* OID, schema and owner of the installed extension; an error if absent */
extern Oid	PersonalizeExtensionOid(void);
extern Oid	PersonalizeSchemaOid(void);
extern Oid	PersonalizeExtensionOwner(void);

/* one of the extension's types and columns, by name */
extern Oid	PersonalizeTypeOid(const char *typname);
extern AttrNumber PersonalizeAttnum(Oid relid, const char *colname);

/* one of the extension's functions, by name and argument types */
extern Oid	PersonalizeFunctionOid(const char *name, int nargs, const Oid *argtypes,
								   bool missing_ok);

/*
 * The error for an object of the extension that is missing (what: its kind
 * and name, as "relation \"consent\""): the library and the installed SQL
 * objects disagree.  Does not return.
 *
 * (PostgreSQL 18 replaced pg_attribute_noreturn(), after the declarator,
 * with pg_noreturn before it.  The guard is here, not in compat.h, which
 * this file cannot include: compat.c includes runas.h, which includes it.)
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif
pg_noreturn extern void PersonalizeMissingObject(const char *what);

/* the owner of a relation; an error if it does not exist */
extern Oid	RelationOwnerOid(Oid relid);

/* the access method of a relation (a table's, an index's); InvalidOid if it does not exist */
extern Oid	RelationAccessMethod(Oid relid);

/* schema.name of a relation, quoted where needed; an error if it does not exist */
extern char *RelationQualifiedName(Oid relid);

/* is the relation filled by a logical replication subscription here? */
extern bool RelationIsSubscribed(Oid relid);

/* a superuser's restore of pg_dump output (check_function_bodies = off) */
extern bool PersonalizeTrustedRestore(void);

#endif							/* PERSONALIZE_EXTENSION_H */
