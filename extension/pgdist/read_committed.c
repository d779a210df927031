/*
 * read_committed.c: READ COMMITTED remote transactions for READ COMMITTED
 * coordinator transactions (pgdist.read_committed).
 *
 * postgres_fdw starts every remote transaction at REPEATABLE READ, so two
 * READ COMMITTED transactions updating one row get a serialization error
 * where one node would make the second wait and re-check the row. The START
 * TRANSACTION it sends becomes READ COMMITTED when the local transaction is
 * READ COMMITTED and is a transaction block or writes: a read-only statement
 * outside a transaction block keeps one snapshot for all its scans of a
 * shard, at no cost.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"

#include "fdwconn.h"
#include "read_committed.h"
#include "settings.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

/* Set by the ExecutorStart hook when a statement of this transaction writes or locks rows. */
static bool xact_writes = false;

/* Notes whether the transaction writes or locks rows, before postgres_fdw opens its remote transactions. */
static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;

	if (queryDesc->operation != CMD_SELECT || stmt->hasModifyingCTE || stmt->rowMarks != NIL)
		xact_writes = true;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static const char *
rewrite_start(FdwConn *fc, const char *sql)
{
	if (strcmp(sql, FDW_START_REPEATABLE_READ) == 0 && pgdist_read_committed &&
		XactIsoLevel <= XACT_READ_COMMITTED && (IsTransactionBlock() || xact_writes))
		return FDW_START_PREFIX "READ COMMITTED";
	return NULL;
}

static void
after_fdw_xact(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		xact_writes = false;
}

static const FdwConnObserver observer = {
	.rewrite_start = rewrite_start,
	.after_fdw_xact = after_fdw_xact,
};

void
pgdist_read_committed_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	fdwconn_observe(&observer);
}
