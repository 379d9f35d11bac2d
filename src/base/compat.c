/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  The functions behind compat.h, where a version difference needs more
 *	  than a macro.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/base/compat.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/elog.h"

#if PG_VERSION_NUM >= 160000
#include "nodes/miscnodes.h"
#endif

#include "base/compat.h"
#include "base/runas.h"

#if PG_VERSION_NUM < 160000
typedef struct InputCall
{
	Oid			typinput;
	const char *str;
	Oid			typioparam;
	int32		typmod;
	Datum		result;
} InputCall;

static void
input_call(void *arg)
{
	InputCall  *c = (InputCall *) arg;

	c->result = OidInputFunctionCall(c->typinput, unconstify(char *, c->str),
									 c->typioparam, c->typmod);
}
#endif

bool
PersonalizeInputSafe(Oid typinput, const char *str, Oid typioparam,
					 int32 typmod, Datum *result)
{
#if PG_VERSION_NUM >= 160000
	ErrorSaveContext escontext = {.type = T_ErrorSaveContext};
	FmgrInfo	flinfo;

	fmgr_info(typinput, &flinfo);
	return InputFunctionCallSafe(&flinfo, unconstify(char *, str),
								 typioparam, typmod,
								 (Node *) &escontext, result);
#else
	InputCall	c = {typinput, str, typioparam, typmod, (Datum) 0};
	ErrorData  *edata = TryInSubtransaction(input_call, &c);

	if (edata == NULL)
	{
		*result = c.result;
		return true;
	}
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
#endif
}

