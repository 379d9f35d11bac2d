/*-------------------------------------------------------------------------
 *
 * upgrade.c
 *	  What the upgrade scripts need beyond SQL: carrying a database's own
 *	  privileges over to a function that replaces another.
 *
 * An upgrade that changes a function's parameters must drop the function
 * and create it again; the privileges a DBA granted on it would be lost.
 * Granting them again from the upgrade script does not do: everything an
 * extension script grants is recorded in pg_init_privs as the extension's
 * own initial privileges, which pg_dump leaves out, so the grant would be
 * lost at the next dump and restore.  _carry_function_privileges() applies
 * the difference between the old function's privileges and its initial
 * ones to the new function as an ordinary GRANT or REVOKE would, outside
 * the extension script's bookkeeping: afterwards the new function has the
 * initial privileges of a fresh install plus the DBA's changes, as pg_dump
 * expects.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/upgrade.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(personalize_carry_function_privileges);

/*
 * The GRANT and REVOKE statements that give function "to" what was granted
 * on function "from" beyond its initial privileges, and take from it what
 * was revoked from them.  The grantor is the function's owner, as when a
 * superuser grants.
 */
static const char *const privilege_changes_sql =
	"WITH f AS ("
	"  SELECT p.oid, p.proowner,"
	"         COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner)) AS acl,"
	"         COALESCE((SELECT i.initprivs FROM pg_catalog.pg_init_privs i"
	"                               WHERE i.objoid OPERATOR(pg_catalog.=) p.oid"
	"                                 AND i.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass"
	"                                 AND i.objsubid OPERATOR(pg_catalog.=) 0),"
	"                             pg_catalog.acldefault('f', p.proowner)) AS init"
	"    FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) $1),"
	" now_ AS (SELECT a.grantee, a.privilege_type, a.is_grantable"
	"          FROM f, pg_catalog.aclexplode(f.acl) a),"
	" init AS (SELECT a.grantee, a.privilege_type, a.is_grantable"
	"          FROM f, pg_catalog.aclexplode(f.init) a),"
	" change AS ((SELECT 'GRANT' AS verb, * FROM now_ EXCEPT SELECT 'GRANT', * FROM init)"
	"            UNION ALL"
	"            (SELECT 'REVOKE', * FROM init EXCEPT SELECT 'REVOKE', * FROM now_))"
	" SELECT pg_catalog.format('%s %s ON FUNCTION %s %s %s%s', c.verb, c.privilege_type,"
	"          $2::pg_catalog.regprocedure,"
	"          CASE c.verb WHEN 'GRANT' THEN 'TO' ELSE 'FROM' END,"
	"          CASE c.grantee WHEN 0 THEN 'PUBLIC'"
	"               ELSE pg_catalog.quote_ident(c.grantee::pg_catalog.regrole::pg_catalog.text) END,"
	"          CASE WHEN c.verb OPERATOR(pg_catalog.=) 'GRANT' AND c.is_grantable"
	"               THEN ' WITH GRANT OPTION' ELSE '' END)"
	"   FROM change c"
	"  ORDER BY c.verb DESC, c.grantee, c.privilege_type";

/*
 * _carry_function_privileges(from regprocedure, to regprocedure): see the
 * head of the file.  Only an extension script may call it.
 */
Datum
personalize_carry_function_privileges(PG_FUNCTION_ARGS)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	List	   *statements = NIL;
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;
	int			ret;

	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("_carry_function_privileges() can only be called by the extension's upgrade scripts")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("functions must not be null")));
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(privilege_changes_sql, 2, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *sql = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(caller);

		statements = lappend(statements, pstrdup(sql));
		MemoryContextSwitchTo(old);
	}

	/*
	 * Run them as the DBA's own GRANT and REVOKE: not recorded as the
	 * extension's initial privileges.
	 */
	PG_TRY();
	{
		creating_extension = false;
		foreach(lc, statements)
		{
			ret = SPI_execute((const char *) lfirst(lc), false, 0);
			if (ret != SPI_OK_UTILITY)
				elog(ERROR, "could not run \"%s\": %s", (const char *) lfirst(lc),
					 SPI_result_code_string(ret));
		}
	}
	PG_FINALLY();
	{
		creating_extension = true;
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT32(list_length(statements));
}
