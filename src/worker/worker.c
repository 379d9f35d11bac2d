/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker: a launcher and one scheduler per database that
 *	  has the extension, making maintenance passes every naptime.
 *
 * With shared_preload_libraries = 'personalize', _PG_init registers the
 * launcher, which starts once recovery is over (never on a standby).  Every
 * naptime it lists the databases (shared catalogs only: it connects to
 * none) and starts a scheduler, a dynamic background worker, for each
 * database that has, or may have, the extension.  A scheduler in a database
 * without the extension says so in shared memory and exits.  No probe can
 * miss an extension: CREATE EXTENSION calls _worker_notify(), which at
 * commit (when the extension is visible) bumps the database's generation
 * and wakes the launcher; a probe that started before that commit sees the
 * generation change and does not mark the database as without the
 * extension.  A database marked so is probed again every
 * REPROBE_NAPTIMES naptimes all the same.  A scheduler whose extension is
 * dropped exits cleanly.
 *
 * A scheduler is the bootstrap superuser.  Its session pins search_path to
 * pg_catalog, pg_temp whatever ALTER DATABASE ... SET says; every statement
 * it runs is schema-qualified, every function it calls is called by OID,
 * and every table's purge runs as that table's owner in a restricted
 * security context whose settings are undone after each statement
 * (retention/retention.c, base/runas.c).
 *
 * A scheduler's pass runs the duties of maintenance.c in order: the
 * retention purge (batch by batch, each batch its own transaction, see
 * retention/retention.c) and the others each in a transaction of its own.  A failing
 * rule or duty is recorded and reported with its SQLSTATE, and the pass
 * goes on; the next pass retries it.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE
 * need the database free of connections: a ProcessUtility hook stops its
 * scheduler first and keeps it stopped for a minute.
 *
 * Copyright (c) 2026, The personalize authors
 *
 * IDENTIFICATION
 *	  src/worker/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "base/runas.h"
#include "retention/retention.h"
#include "worker/maintenance.h"
#include "worker/worker.h"

PGDLLEXPORT void personalize_launcher_main(Datum arg);
PGDLLEXPORT void personalize_scheduler_main(Datum arg);

PG_FUNCTION_INFO_V1(personalize_worker_notify);
PG_FUNCTION_INFO_V1(personalize_ship_soon);
PG_FUNCTION_INFO_V1(personalize_worker_status);

/* GUCs */
static int	naptime_s = 60;
static bool worker_enabled = true;

/* databases the launcher keeps track of */
#define MAX_DATABASES 256
/* a database without the extension is probed again after this many naptimes */
#define REPROBE_NAPTIMES 10

typedef enum DbState
{
	DB_UNKNOWN,					/* not probed yet: start a scheduler to see */
	DB_ACTIVE,					/* has the extension: keep a scheduler */
	DB_NO_EXTENSION				/* probed, no extension */
} DbState;

typedef struct DbSlot
{
	Oid			dboid;
	pid_t		pid;			/* the running scheduler, or 0 */
	DbState		state;
	TimestampTz started_at;		/* last time the launcher started one */
	TimestampTz paused_until;	/* DROP DATABASE and friends in progress */
	TimestampTz last_cycle;
	TimestampTz probed_at;		/* when it was found without the extension */
	uint64		generation;		/* bumped by each committed CREATE EXTENSION */
	bool		warned;			/* out-of-slots warning given */
	Latch	   *latch;			/* the running scheduler's, or NULL */
	bool		ship_requested; /* a commit wrote copy_outbox since the last shipping */
} DbSlot;

typedef struct WorkerShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			ndbs;
	DbSlot		dbs[MAX_DATABASES];
} WorkerShared;

static WorkerShared *shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
	RequestNamedLWLockTranche("personalize", 1);
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("personalize worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkerShared));
		shared->lock = &(GetNamedLWLockTranche("personalize"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* the slot of a database; NULL if none (and create is false or it is full) */
static DbSlot *
find_slot(Oid dboid, bool create)
{
	for (int i = 0; i < shared->ndbs; i++)
		if (shared->dbs[i].dboid == dboid)
			return &shared->dbs[i];
	if (create && shared->ndbs < MAX_DATABASES)
	{
		DbSlot	   *slot = &shared->dbs[shared->ndbs++];

		memset(slot, 0, sizeof(DbSlot));
		slot->dboid = dboid;
		slot->state = DB_UNKNOWN;
		return slot;
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * Stopping a scheduler for database-level DDL
 * ---------------------------------------------------------------------
 */

/*
 * Stop the scheduler of a database and keep it stopped for a minute, so a
 * command that needs the database free of connections can run.
 */
static void
stop_scheduler(const char *dbname)
{
	Oid			dboid;
	pid_t		pid = 0;

	if (shared == NULL || dbname == NULL)
		return;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid))
		return;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(dboid, false);

		if (slot)
		{
			slot->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 60000);
			pid = slot->pid;
		}
	}
	LWLockRelease(shared->lock);
	if (pid == 0)
		return;

	kill(pid, SIGTERM);
	/* wait up to 5 seconds for it to leave */
	for (int i = 0; i < 50; i++)
	{
		bool		gone;

		LWLockAcquire(shared->lock, LW_SHARED);
		{
			DbSlot	   *slot = find_slot(dboid, false);

			gone = slot == NULL || slot->pid != pid;
		}
		LWLockRelease(shared->lock);
		if (gone)
			break;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100 * 1000L);
	}
}

/*
 * ProcessUtility hook: free a database of its scheduler before DDL that
 * needs no other connections to it.
 */
static void
worker_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree,
					  ProcessUtilityContext context, ParamListInfo params,
					  QueryEnvironment *queryEnv, DestReceiver *dest,
					  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, DropdbStmt))
		stop_scheduler(((DropdbStmt *) parsetree)->dbname);
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		stop_scheduler(((RenameStmt *) parsetree)->subname);
	else if (IsA(parsetree, AlterDatabaseStmt))
		stop_scheduler(((AlterDatabaseStmt *) parsetree)->dbname);
	else if (IsA(parsetree, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) parsetree)->options)
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "template") == 0 && def->arg)
				stop_scheduler(defGetString(def));
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/* ---------------------------------------------------------------------
 * Setup
 * ---------------------------------------------------------------------
 */

/*
 * Define the worker's GUCs; when preloading, register the launcher, the
 * shared memory and the hook.  Not called under binary upgrade.
 */
void
WorkerInit(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("personalize.naptime",
							gettext_noop("Time between the background worker's maintenance passes."),
							NULL,
							&naptime_s,
							60,
							1,
							24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("personalize.enabled",
							 gettext_noop("Whether the background worker makes maintenance passes."),
							 NULL,
							 &worker_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = worker_ProcessUtility;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "personalize");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "personalize_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "personalize launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "personalize launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------
 */

/*
 * Start a scheduler for a database.  Called with the lock held.
 */
static void
start_scheduler(DbSlot *slot)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(slot->dboid);
	worker.bgw_notify_pid = MyProcPid;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "personalize");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "personalize_scheduler_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "personalize scheduler for database %u", slot->dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "personalize scheduler");

	if (RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		slot->started_at = GetCurrentTimestamp();
		slot->warned = false;
	}
	else if (!slot->warned)
	{
		ereport(WARNING,
				(errmsg("could not start the personalize scheduler for database %u: no background worker slot is free",
						slot->dboid),
				 errhint("Increase max_worker_processes (each database with the extension needs one, plus one for the launcher); retention purges wait until then.")));
		slot->warned = true;
	}
}

/*
 * List the databases that allow connections and are not templates; forget
 * slots of databases that are gone.  Needs no database connection.
 */
static void
refresh_databases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Oid		   *oids = palloc(sizeof(Oid) * MAX_DATABASES);
	int			n = 0;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL && n < MAX_DATABASES)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (!db->datallowconn || db->datistemplate)
			continue;
#ifdef DATCONNLIMIT_INVALID_DB
		if (db->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
#endif
		oids[n++] = db->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	/* drop slots of databases that are gone */
	for (int i = 0; i < shared->ndbs;)
	{
		bool		present = false;

		for (int j = 0; j < n; j++)
			if (oids[j] == shared->dbs[i].dboid)
				present = true;
		if (!present && shared->dbs[i].pid == 0)
			shared->dbs[i] = shared->dbs[--shared->ndbs];
		else
			i++;
	}
	for (int j = 0; j < n; j++)
		(void) find_slot(oids[j], true);
	LWLockRelease(shared->lock);
	pfree(oids);
}

/*
 * Start the schedulers that should run and do not.  Probes of databases
 * not known yet start two at a time, so a cluster with many databases does
 * not use up the worker slots.
 */
static void
start_schedulers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			probing = 0;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < shared->ndbs; i++)
		if (shared->dbs[i].state == DB_UNKNOWN && shared->dbs[i].pid != 0)
			probing++;
	for (int i = 0; i < shared->ndbs; i++)
	{
		DbSlot	   *slot = &shared->dbs[i];

		if (slot->state == DB_NO_EXTENSION &&
			TimestampDifferenceExceeds(slot->probed_at, now,
									   REPROBE_NAPTIMES * naptime_s * 1000))
			slot->state = DB_UNKNOWN;
		if (slot->state == DB_NO_EXTENSION || slot->pid != 0 ||
			slot->paused_until > now ||
			/* one that was just started may not have said hello yet */
			(slot->started_at != 0 &&
			 !TimestampDifferenceExceeds(slot->started_at, now, 10000)))
			continue;
		if (slot->state == DB_UNKNOWN && probing >= 2)
			continue;
		if (slot->state == DB_UNKNOWN)
			probing++;
		start_scheduler(slot);
	}
	LWLockRelease(shared->lock);
}

static void
launcher_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher_pid = 0;
	shared->launcher_latch = NULL;
	LWLockRelease(shared->lock);
}

/*
 * The launcher's main loop.
 */
void
personalize_launcher_main(Datum arg pg_attribute_unused())
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("personalize launcher");

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher_pid = MyProcPid;
	shared->launcher_latch = &MyProc->procLatch;
	LWLockRelease(shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);
	ereport(LOG, (errmsg("personalize launcher started")));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (worker_enabled)
		{
			refresh_databases();
			start_schedulers();
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 naptime_s * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * The scheduler
 * ---------------------------------------------------------------------
 */

static Oid	scheduler_db = InvalidOid;
static char *scheduler_dbname = "?";	/* for messages, read at start */

static void
scheduler_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(scheduler_db, false);

		if (slot && slot->pid == MyProcPid)
		{
			slot->pid = 0;
			slot->latch = NULL;
		}
		if (shared->launcher_latch)
			SetLatch(shared->launcher_latch);
	}
	LWLockRelease(shared->lock);
}

/* the database's generation when this scheduler started */
static uint64 scheduler_generation = 0;

/*
 * Set the database's state.  "No extension" only sticks if no CREATE
 * EXTENSION committed since this scheduler started: otherwise the state
 * stays "unknown" and the launcher probes again.
 */
static void
set_state(DbState state)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(scheduler_db, false);

		if (slot && (state != DB_NO_EXTENSION || slot->generation == scheduler_generation))
		{
			slot->state = state;
			if (state == DB_NO_EXTENSION)
				slot->probed_at = GetCurrentTimestamp();
		}
	}
	LWLockRelease(shared->lock);
}

/* is the extension still installed?  Inside a transaction. */
static bool
extension_present(void)
{
	return OidIsValid(get_extension_oid("personalize", true));
}

/* begin a transaction for the scheduler's work */
static void
begin_work(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* commit it */
static void
end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* the extension was dropped between two transactions */
static bool extension_gone = false;

/* commit callback of the purge engine: one transaction per batch */
static void
batch_commit(void *arg, bool pause)
{
	const char *activity = (const char *) arg;

	end_work();
	if (pause)
	{
		/* a reload may change the pause: take it in between two batches */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		RetentionPause();
	}
	begin_work(activity);
	if (!extension_present())
	{
		extension_gone = true;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"personalize\" was dropped")));
	}
}

/*
 * Leave quietly when the extension is gone, after an error: the usual way
 * a DROP EXTENSION in the middle of a pass shows itself.
 */
static void
exit_if_extension_gone(void)
{
	bool		present;

	if (!extension_gone)
	{
		StartTransactionCommand();
		present = extension_present();
		CommitTransactionCommand();
		if (present)
			return;
	}
	set_state(DB_NO_EXTENSION);
	ereport(LOG,
			(errmsg("personalize scheduler for database \"%s\" exiting: the extension is not installed",
					scheduler_dbname)));
	proc_exit(0);
}

/*
 * Purge one rule, committing each batch; a failure is recorded (retention/retention.c)
 * and reported here, and the pass goes on.
 */
static void
purge_rule(PurgeRule *rule, MemoryContext cxt)
{
	char	   *activity = MemoryContextStrdup(cxt, "personalize: retention purge");
	int64		rows;
	ErrorData  *edata;

	begin_work(activity);
	edata = RetentionRun(rule, "worker", cxt, batch_commit, activity, &rows);
	if (edata != NULL)
	{
		char	   *name = get_rel_name(RetentionRuleRelid(rule));

		WarnFailure(edata,
					psprintf("personalize could not purge table \"%s\" in database \"%s\"",
							 name ? name : "?", scheduler_dbname),
					"The other rules go on; this one is retried at the next pass.");
	}
	end_work();
}

static void
call_duty(void *arg)
{
	(void) MaintenanceRunDuty((const MaintenanceDuty *) arg);
}

/*
 * Run a duty in a transaction of its own; a failure is reported, and the
 * pass goes on.
 */
static void
run_duty(const MaintenanceDuty *duty)
{
	ErrorData  *edata;

	begin_work(psprintf("personalize: %s", duty->name));
	edata = TryInSubtransaction(call_duty, unconstify(MaintenanceDuty *, duty));
	if (edata != NULL)
		WarnFailure(edata,
					psprintf("personalize maintenance duty \"%s\" failed in database \"%s\"",
							 duty->name, scheduler_dbname),
					"The pass goes on; the duty is retried at the next pass.");
	end_work();
}

/*
 * Does the extension installed in this database have the library's
 * version?  After new binaries are installed, a database runs the old SQL
 * objects until ALTER EXTENSION personalize UPDATE: passes wait for it
 * (with one WARNING) rather than fail on objects that are not there yet.
 * Inside a transaction.
 */
static bool
version_matches(void)
{
	static bool warned = false;
	char	   *installed = NULL;

	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension"
					" WHERE extname OPERATOR(pg_catalog.=) 'personalize'", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
		installed = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (installed != NULL && strcmp(installed, PERSONALIZE_VERSION) == 0)
	{
		warned = false;
		return true;
	}
	if (!warned)
		ereport(WARNING,
				(errmsg("personalize %s is installed in database \"%s\", but the library is version %s",
						installed ? installed : "?", scheduler_dbname, PERSONALIZE_VERSION),
				 errdetail("Maintenance passes wait until the versions match."),
				 errhint("Run ALTER EXTENSION personalize UPDATE in that database.")));
	warned = true;
	return false;
}

/*
 * One maintenance pass: the duties of maintenance.c, in order.  Returns
 * false when the pass was skipped.
 */
static bool
maintenance_pass(bool first, MemoryContext cxt)
{
	List	   *rules;
	ListCell   *lr;

	begin_work("personalize: planning a maintenance pass");
	if (!extension_present())
	{
		end_work();
		extension_gone = true;
		exit_if_extension_gone();
	}
	if (!version_matches())
	{
		end_work();
		return false;
	}
	if (first)
		RetentionMarkInterrupted();
	rules = RetentionRules(InvalidOid, cxt);
	end_work();

	for (int i = 0; i < NumMaintenanceDuties; i++)
	{
		const MaintenanceDuty *duty = &MaintenanceDuties[i];

		CHECK_FOR_INTERRUPTS();
		if (duty->function != NULL)
		{
			run_duty(duty);
			continue;
		}
		foreach(lr, rules)
		{
			CHECK_FOR_INTERRUPTS();
			purge_rule((PurgeRule *) lfirst(lr), cxt);
		}
	}
	return true;
}

/* has a commit asked this database's scheduler to ship copy_outbox?  Clears the request. */
static bool
take_ship_request(void)
{
	bool		requested = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(scheduler_db, false);

		if (slot)
		{
			requested = slot->ship_requested;
			slot->ship_requested = false;
		}
	}
	LWLockRelease(shared->lock);
	return requested;
}

/*
 * Until the next pass (naptime), or a reload of the configuration: ship
 * copy_outbox whenever a commit asks for it (_ship_soon()), so that the
 * copies of intents and signals placed with a table on a Citus cluster
 * follow their writes within moments rather than a naptime.
 */
static void
wait_for_next_pass(void)
{
	TimestampTz next_pass = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														naptime_s * 1000L);

	for (;;)
	{
		long		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_pass);

		if (timeout <= 0)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* a new naptime, or the worker switched on: a pass now */
		if (ConfigReloadPending)
			return;
		if (take_ship_request() && worker_enabled && !RecoveryInProgress())
		{
			for (int i = 0; i < NumMaintenanceDuties; i++)
				if (strcmp(MaintenanceDuties[i].name, "ship_copies") == 0)
					run_duty(&MaintenanceDuties[i]);
		}
	}
}

/*
 * A scheduler's main loop, in one database.
 */
void
personalize_scheduler_main(Datum arg)
{
	MemoryContext passcxt;
	volatile bool first = true;

	scheduler_db = DatumGetObjectId(arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(scheduler_db, InvalidOid, 0);
	pgstat_report_appname("personalize scheduler");

	/* one scheduler per database */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(scheduler_db, true);

		if (slot == NULL || (slot->pid != 0 && slot->pid != MyProcPid &&
							 kill(slot->pid, 0) == 0))
		{
			LWLockRelease(shared->lock);
			proc_exit(0);
		}
		slot->pid = MyProcPid;
		slot->latch = &MyProc->procLatch;
		scheduler_generation = slot->generation;
	}
	LWLockRelease(shared->lock);
	before_shmem_exit(scheduler_detach, (Datum) 0);

	/*
	 * Whatever ALTER DATABASE ... SET search_path says: a database owner
	 * must not decide what the superuser's unqualified names mean.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_SESSION);

	StartTransactionCommand();
	{
		char	   *name = get_database_name(MyDatabaseId);

		if (name)
			scheduler_dbname = MemoryContextStrdup(TopMemoryContext, name);
	}
	if (!extension_present())
	{
		CommitTransactionCommand();
		set_state(DB_NO_EXTENSION);
		proc_exit(0);
	}
	CommitTransactionCommand();
	set_state(DB_ACTIVE);
	ereport(LOG,
			(errmsg("personalize scheduler started for database \"%s\"", scheduler_dbname)));

	passcxt = AllocSetContextCreate(TopMemoryContext, "personalize maintenance pass",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (worker_enabled && !RecoveryInProgress())
		{
			MemoryContextReset(passcxt);
			PG_TRY();
			{
				if (maintenance_pass(first, passcxt))
					first = false;
			}
			PG_CATCH();
			{
				/* planning failed: log it, try again at the next pass */
				ErrorData  *edata;

				MemoryContextSwitchTo(passcxt);
				edata = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				exit_if_extension_gone();
				WarnFailure(edata,
							psprintf("personalize maintenance pass failed in database \"%s\"",
									 scheduler_dbname),
							"The next pass tries again.");
			}
			PG_END_TRY();
			LWLockAcquire(shared->lock, LW_EXCLUSIVE);
			{
				DbSlot	   *slot = find_slot(scheduler_db, false);

				if (slot)
					slot->last_cycle = GetCurrentTimestamp();
			}
			LWLockRelease(shared->lock);
		}
		wait_for_next_pass();
	}
}

/* ---------------------------------------------------------------------
 * SQL-callable
 * ---------------------------------------------------------------------
 */

/*
 * What this transaction tells the worker at its commit: a CREATE EXTENSION
 * (the launcher), a write to copy_outbox (the database's scheduler).
 */
static bool notify_at_commit = false;
static bool ship_at_commit = false;
static bool commit_callback_registered = false;

/*
 * At commit, when the change has become visible to every new snapshot:
 * for a CREATE EXTENSION, bump the database's generation and wake the
 * launcher; for a write to copy_outbox, ask the scheduler to ship and
 * wake it.
 */
static void
commit_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	if (!notify_at_commit && !ship_at_commit)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		notify_at_commit = ship_at_commit = false;
		return;
	}
	if (event != XACT_EVENT_COMMIT)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	{
		DbSlot	   *slot = find_slot(MyDatabaseId, notify_at_commit);

		if (slot && notify_at_commit)
		{
			slot->generation++;
			if (slot->state == DB_NO_EXTENSION)
				slot->state = DB_UNKNOWN;
		}
		if (notify_at_commit && shared->launcher_latch)
			SetLatch(shared->launcher_latch);
		if (slot && ship_at_commit)
		{
			slot->ship_requested = true;
			if (slot->latch)
				SetLatch(slot->latch);
		}
	}
	LWLockRelease(shared->lock);
	notify_at_commit = ship_at_commit = false;
}

static void
register_commit_callback(void)
{
	if (!commit_callback_registered)
	{
		RegisterXactCallback(commit_xact_callback, NULL);
		commit_callback_registered = true;
	}
}

/*
 * _worker_notify(): this database now has the extension; tell the
 * launcher when the transaction commits.  Does nothing when the worker is
 * not preloaded.
 */
Datum
personalize_worker_notify(PG_FUNCTION_ARGS)
{
	if (shared == NULL)
		PG_RETURN_VOID();
	register_commit_callback();
	notify_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * _ship_soon(): at the commit of this transaction, wake this database's
 * scheduler to ship copy_outbox.  Does nothing when the worker is not
 * preloaded (the next maintenance pass, or run_maintenance(), ships).
 */
Datum
personalize_ship_soon(PG_FUNCTION_ARGS)
{
	if (shared == NULL)
		PG_RETURN_VOID();
	register_commit_callback();
	ship_at_commit = true;
	PG_RETURN_VOID();
}

/*
 * worker_status(): the schedulers the launcher knows of.
 */
Datum
personalize_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const names[] = {"unknown", "active", "no extension"};
	DbSlot		copy[MAX_DATABASES];
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (shared == NULL)
		PG_RETURN_VOID();
	LWLockAcquire(shared->lock, LW_SHARED);
	n = shared->ndbs;
	memcpy(copy, shared->dbs, sizeof(DbSlot) * n);
	LWLockRelease(shared->lock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		char	   *dbname = get_database_name(copy[i].dboid);

		if (dbname == NULL)
			continue;
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		values[1] = Int32GetDatum(copy[i].pid);
		nulls[1] = copy[i].pid == 0;
		values[2] = CStringGetTextDatum(names[copy[i].state]);
		values[3] = TimestampTzGetDatum(copy[i].last_cycle);
		nulls[3] = copy[i].last_cycle == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
