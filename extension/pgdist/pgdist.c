/*
 * pgdist.c: loading, settings, shared memory, hooks and the SQL functions
 * that report state. See pgdist.h for what the extension does.
 */
#include "pgdist.h"
#include "key_update.h"

#include <dlfcn.h>

#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

bool		pgdist_two_phase_commit = true;
bool		pgdist_read_committed = true;
char	   *pgdist_database = NULL;
int			pgdist_deadlock_check_interval = 2000;
int			pgdist_recovery_interval = 10000;
int			pgdist_frozen_backend_timeout = 20;
int			pgdist_commit_timeout = 10000;
bool		pgdist_async_insert = true;

PgdistShared *pgdist_shared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

void		_PG_init(void);

static void
define_settings(void)
{
	DefineCustomBoolVariable("pgdist.two_phase_commit",
							 "Commits transactions that wrote on several nodes with two-phase commit.",
							 NULL, &pgdist_two_phase_commit, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.read_committed",
							 "Runs the remote transactions of READ COMMITTED transactions at READ COMMITTED.",
							 "Off keeps postgres_fdw's REPEATABLE READ for them.",
							 &pgdist_read_committed, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.async_insert",
							 "Sends the later batches of an INSERT into a foreign table without waiting for each answer.",
							 "Each answer is read before the next command on its connection; off waits for every batch.",
							 &pgdist_async_insert, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgdist.database",
							   "Database whose foreign servers the pgdist maintenance worker looks after.",
							   NULL, &pgdist_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.deadlock_check_interval",
							"Time between two looks for cross-node deadlocks (0 turns detection off).",
							NULL, &pgdist_deadlock_check_interval, 2000, 0, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.recovery_interval",
							"Time between two passes over prepared transactions and orphaned sessions (0 turns them off).",
							NULL, &pgdist_recovery_interval, 10000, 0, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.frozen_backend_timeout",
							"How long a stopped coordinator backend keeps its remote sessions.",
							NULL, &pgdist_frozen_backend_timeout, 20, 1, 86400, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.commit_timeout",
							"How long a commit waits for a node to confirm COMMIT PREPARED.",
							"Past it the commit returns and recovery finishes the node's part.",
							&pgdist_commit_timeout, 10000, 100, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pgdist");
#else
	EmitWarningsOnPlaceholders("pgdist");
#endif
}

static void
request_shmem(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgdistShared)));
}

static void
startup_shmem(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgdist_shared = ShmemInitStruct("pgdist", sizeof(PgdistShared), &found);
	if (!found)
	{
		memset(pgdist_shared, 0, sizeof(PgdistShared));
		pg_atomic_init_u64(&pgdist_shared->one_phase_commits, 0);
		pg_atomic_init_u64(&pgdist_shared->two_phase_commits, 0);
		pg_atomic_init_u64(&pgdist_shared->prepared_resolved, 0);
		pg_atomic_init_u64(&pgdist_shared->deadlocks_broken, 0);
		pg_atomic_init_u64(&pgdist_shared->orphans_terminated, 0);
		SpinLockInit(&pgdist_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* A hash table of fixed-size binary keys in context. */
HTAB *
pgdist_hash(const char *name, long size, Size keysize, Size entrysize, MemoryContext context)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = context;
	return hash_create(name, size, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Notes whether the transaction writes or locks rows, before postgres_fdw opens its remote transactions. */
static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;

	if (queryDesc->operation != CMD_SELECT || stmt->hasModifyingCTE || stmt->rowMarks != NIL)
		pgdist_xact_writes = true;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
emit_log(ErrorData *edata)
{
	pgdist_emit_log_hook(edata);
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgdist must be loaded by shared_preload_libraries"),
				 errhint("Add pgdist to shared_preload_libraries and restart the server.")));
	/* Loaded first, postgres_fdw would have bound libpq's functions instead of ours. */
	if (dlsym(RTLD_DEFAULT, "postgres_fdw_handler") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgdist must be loaded before postgres_fdw"),
				 errhint("List pgdist before postgres_fdw in shared_preload_libraries.")));
	define_settings();
	pgdist_shim_init();
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shmem;
#else
	request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = startup_shmem;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = emit_log;
	pgdist_twophase_init();
	pgdist_key_update_init();
	pgdist_register_worker();
}

/* Set-returning functions fill a tuplestore (InitMaterializedSRF from PostgreSQL 15 on). */
void
pgdist_materialize(FunctionCallInfo fcinfo)
{
#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
#endif
}

PG_FUNCTION_INFO_V1(pgdist_stats);
Datum
pgdist_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum((int64) pg_atomic_read_u64(&pgdist_shared->one_phase_commits));
	values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&pgdist_shared->two_phase_commits));
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&pgdist_shared->prepared_resolved));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&pgdist_shared->deadlocks_broken));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&pgdist_shared->orphans_terminated));
	values[5] = BoolGetDatum(pgdist_shim_active());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
