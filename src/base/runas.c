/*-------------------------------------------------------------------------
 *
 * runas.c
 *	  Running as another role: a table owner's code as that owner, the
 *	  extension's own statements as the extension's owner, in a restricted
 *	  security context with a GUC nest level of its own; SPI helpers for
 *	  those statements; and subtransactions that turn an error into a value,
 *	  for loops that must go on.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/runas.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "base/extension.h"
#include "base/runas.h"

/* ---------------------------------------------------------------------
 * Running as another role
 * ---------------------------------------------------------------------
 */

void
BeginRunAs(RunAs *ra, Oid role)
{
	GetUserIdAndSecContext(&ra->save_userid, &ra->save_sec_context);
	SetUserIdAndSecContext(role, ra->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ra->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
EndRunAs(RunAs *ra)
{
	/* false: whatever the code changed, even with SET, is undone */
	AtEOXact_GUC(false, ra->save_nestlevel);
	SetUserIdAndSecContext(ra->save_userid, ra->save_sec_context);
}

/* ---------------------------------------------------------------------
 * Statements on the extension's own tables
 * ---------------------------------------------------------------------
 */

uint64
RoleExecute(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
			const char *nulls, bool read_only, ExtRowFn row_fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	RunAs		ra;
	int			ret;
	uint64		processed;

	BeginRunAs(&ra, role);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	processed = SPI_processed;
	if (row_fn != NULL && SPI_tuptable != NULL)
	{
		MemoryContext spicxt = MemoryContextSwitchTo(cxt);

		for (uint64 i = 0; i < processed; i++)
			row_fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		MemoryContextSwitchTo(spicxt);
	}
	SPI_finish();
	EndRunAs(&ra);
	return processed;
}

uint64
RoleExecuteCursor(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
				  const char *nulls, ExtRowFn row_fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	RunAs		ra;
	Portal		portal;
	uint64		processed = 0;

	BeginRunAs(&ra, role);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values, nulls,
									   true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		MemoryContext spicxt;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		spicxt = MemoryContextSwitchTo(cxt);
		for (uint64 i = 0; i < SPI_processed; i++)
			row_fn(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
		MemoryContextSwitchTo(spicxt);
		processed += SPI_processed;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	EndRunAs(&ra);
	return processed;
}

uint64
ExtExecute(const char *sql, int nargs, Oid *argtypes, Datum *values,
		   const char *nulls, bool read_only, ExtRowFn row_fn, void *arg)
{
	return RoleExecute(PersonalizeExtensionOwner(), sql, nargs, argtypes,
					   values, nulls, read_only, row_fn, arg);
}

typedef struct FirstValue
{
	bool		seen;
	bool		isnull;
	Datum		value;
	char	   *text;
	bool		as_text;
} FirstValue;

/* row callback of ExtValue and ExtValueText: keep the first column of row one */
static void
first_value(HeapTuple tuple, TupleDesc desc, void *arg)
{
	FirstValue *fv = (FirstValue *) arg;
	Form_pg_attribute att = TupleDescAttr(desc, 0);

	if (fv->seen)
		return;
	fv->seen = true;
	if (fv->as_text)
	{
		fv->text = SPI_getvalue(tuple, desc, 1);
		fv->isnull = fv->text == NULL;
		return;
	}
	fv->value = SPI_getbinval(tuple, desc, 1, &fv->isnull);
	if (!fv->isnull)
		fv->value = datumCopy(fv->value, att->attbyval, att->attlen);
}

Datum
RoleValue(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
		  const char *nulls, bool read_only, bool *isnull)
{
	FirstValue	fv = {false, true, (Datum) 0, NULL, false};

	(void) RoleExecute(role, sql, nargs, argtypes, values, nulls, read_only,
					   first_value, &fv);
	*isnull = !fv.seen || fv.isnull;
	return *isnull ? (Datum) 0 : fv.value;
}

Datum
ExtValue(const char *sql, int nargs, Oid *argtypes, Datum *values,
		 const char *nulls, bool read_only, bool *isnull)
{
	return RoleValue(PersonalizeExtensionOwner(), sql, nargs, argtypes, values,
					 nulls, read_only, isnull);
}

char *
ExtValueText(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, bool read_only)
{
	FirstValue	fv = {false, true, (Datum) 0, NULL, true};

	(void) ExtExecute(sql, nargs, argtypes, values, nulls, read_only,
					  first_value, &fv);
	return fv.seen ? fv.text : NULL;
}

/* ---------------------------------------------------------------------
 * Errors that must not stop a loop
 * ---------------------------------------------------------------------
 */

ErrorData *
TryInSubtransaction(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		/* copy the error out of ErrorContext before it is reset */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

void
WarnFailure(const ErrorData *edata, const char *what, const char *note)
{
	const char *detail = edata->detail;

	if (note != NULL)
		detail = detail ? psprintf("%s %s", detail, note) : note;
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("%s: %s", what, edata->message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0));
}
