/*
 * worker.c: the pgdist maintenance worker. In pgdist.database it looks for
 * cross-node deadlocks every pgdist.deadlock_check_interval, and finishes
 * prepared transactions and terminates orphaned remote sessions every
 * pgdist.recovery_interval. A pass that fails is logged and retried at the
 * next interval; the worker itself is restarted by the postmaster if it dies.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "deadlock.h"
#include "orphans.h"
#include "recovery.h"
#include "settings.h"
#include "worker.h"

void
pgdist_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgdist");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgdist_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgdist maintenance");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgdist maintenance");
	RegisterBackgroundWorker(&worker);
}

/* Runs one pass in a transaction of its own; an error is logged, not fatal. */
static void
run_pass(const char *what, int (*pass) (void))
{
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		(void) pass();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG, (errmsg("pgdist: %s failed: %s", what, edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
}

static int
recovery_pass(void)
{
	return pgdist_recover(false, NULL, NULL) + pgdist_orphan_pass();
}

static TimestampTz
next_run(TimestampTz last, int interval_ms)
{
	return interval_ms > 0 ? TimestampTzPlusMilliseconds(last, interval_ms) : DT_NOEND;
}

void
pgdist_worker_main(Datum main_arg)
{
	TimestampTz last_deadlock = 0;
	TimestampTz last_recovery = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(pgdist_database, NULL, 0);
	pgstat_report_appname("pgdist maintenance");

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz deadlock_due = next_run(last_deadlock, pgdist_deadlock_check_interval);
		TimestampTz recovery_due = next_run(last_recovery, pgdist_recovery_interval);
		TimestampTz due = Min(deadlock_due, recovery_due);
		long		timeout = due == DT_NOEND ? 60000 : Max(0, (due - now) / 1000);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		if (now >= next_run(last_deadlock, pgdist_deadlock_check_interval))
		{
			run_pass("deadlock detection", pgdist_deadlock_pass);
			last_deadlock = now;
		}
		if (now >= next_run(last_recovery, pgdist_recovery_interval))
		{
			run_pass("recovery of prepared transactions", recovery_pass);
			last_recovery = now;
		}
	}
}
