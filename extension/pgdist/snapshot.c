/*
 * snapshot.c: consistent reads across nodes (pgdist.consistent_reads).
 *
 * postgres_fdw takes a node's snapshot at its first use in the local
 * transaction, each node at its own moment. A transaction committed in two
 * phases becomes visible node by node, one COMMIT PREPARED after the other:
 * a read between two of them sees it on one node and not on the other (a
 * transfer between two accounts shows a total that never existed).
 *
 * Every two-phase commit holds the commit lock (twophase.c) in ShareLock
 * from its decision, before the first PREPARE, until its last COMMIT
 * PREPARED is answered. A cut takes that lock in RowExclusiveLock, which
 * conflicts with ShareLock and not with itself: while a cut holds it no
 * two-phase commit is half done, and other cuts are not held up. Under the
 * lock, one connection of pgdist's own per node (kept for the session)
 * starts a transaction there and exports its snapshot, every node in
 * parallel; then the lock is released. Each remote transaction postgres_fdw
 * starts in the local transaction imports its node's snapshot (SET
 * TRANSACTION SNAPSHOT, sent with its START): every transaction committed
 * in two phases through this coordinator is seen on all nodes or on none.
 *
 * An exported snapshot can be imported only while the transaction that
 * exported it runs: the exporting transactions last as long as the local
 * one; their ROLLBACK is sent at its end and its answer read at the next
 * cut. The lock manager grants conflicting requests in order, so a cut
 * waits only for the commits in progress, and commits that come after it
 * wait only until it has its snapshots; both waits are bounded by
 * pgdist.consistent_reads_timeout (the cut fails with a lock timeout, a
 * node that does not answer is left out of it).
 *
 * The cut is taken when a statement starts, before postgres_fdw starts its
 * remote transactions: the first statement using a foreign table in a
 * REPEATABLE READ or SERIALIZABLE transaction (for every node, so that
 * later statements reading other nodes share the cut), and with
 * pgdist.consistent_reads = all a read-only statement outside a
 * transaction block whose foreign tables are on two nodes or more (its
 * remote transactions are REPEATABLE READ: read_committed.c leaves them).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "appname.h"
#include "fdwconn.h"
#include "remote.h"
#include "settings.h"
#include "shared.h"
#include "snapshot.h"
#include "twophase.h"
#include "util.h"

#define SNAPSHOT_ID_LEN 64
#define REASON_LEN 256

/* A node of the cut: pgdist's own connection to it, kept for the session. */
typedef struct SnapshotNode
{
	RemoteServer rs;			/* in TopMemoryContext; rs.error unused */
	Oid			userid;			/* whose user mapping it connected with */
	bool		ending;			/* its ROLLBACK is sent, the answer unread */
	char		snapshot[SNAPSHOT_ID_LEN];	/* exported in this local transaction, "" if none */
	char		reason[REASON_LEN]; /* why it has none */
} SnapshotNode;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static List *nodes = NIL;		/* SnapshotNode *, in TopMemoryContext */
static bool xact_cut = false;	/* this local transaction has its cut */
static bool nodes_stale = false;	/* a server or user mapping changed: connect again */
static bool callbacks_registered = false;

static void
forget_connections(Datum arg, int cacheid, uint32 hashvalue)
{
	nodes_stale = true;
}

static void
drop_connection(SnapshotNode *node)
{
	if (node->rs.conn != NULL)
		PQfinish(node->rs.conn);
	node->rs.conn = NULL;
	node->ending = false;
	node->snapshot[0] = '\0';
}

/* A connection back to idle (the last ROLLBACK read), or dropped when it cannot be. */
static void
settle(SnapshotNode *node)
{
	PGresult   *res;

	if (node->rs.conn == NULL)
		return;
	if (node->ending)
	{
		if (!pgdist_wait_result(node->rs.conn, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																		   pgdist_consistent_reads_timeout), true))
		{
			drop_connection(node);
			return;
		}
		while ((res = PQgetResult(node->rs.conn)) != NULL)
			PQclear(res);
		node->ending = false;
	}
	if (PQstatus(node->rs.conn) != CONNECTION_OK || PQtransactionStatus(node->rs.conn) != PQTRANS_IDLE ||
		node->userid != GetUserId())
		drop_connection(node);
}

static SnapshotNode *
find_node(Oid serverid)
{
	ListCell   *lc;

	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (node->rs.serverid == serverid)
			return node;
	}
	return NULL;
}

/* The nodes pgdist looks after (remote.c), connected where they can be: before the lock, so it is held for the exports only. */
static void
connect_nodes(void)
{
	List	   *servers = pgdist_fdw_servers();
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, forget_connections, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, forget_connections, (Datum) 0);
		callbacks_registered = true;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	foreach(lc, servers)
	{
		ForeignServer *server = (ForeignServer *) lfirst(lc);
		SnapshotNode *node;

		if (!superuser_arg(server->owner))
			continue;
		if ((node = find_node(server->serverid)) == NULL)
		{
			node = (SnapshotNode *) palloc0(sizeof(SnapshotNode));
			node->rs.serverid = server->serverid;
			node->rs.name = pstrdup(server->servername);
		}
		kept = lappend(kept, node);
	}
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (!list_member_ptr(kept, node))
		{
			drop_connection(node);
			pfree(node->rs.name);
			pfree(node);
		}
	}
	list_free(nodes);
	nodes = kept;
	MemoryContextSwitchTo(old);

	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (nodes_stale)
			drop_connection(node);
		settle(node);
		node->snapshot[0] = node->reason[0] = '\0';
		if (node->rs.conn != NULL)
			continue;
		node->rs.error = NULL;
		/* Named after this backend: the orphans pass ends its sessions when the backend is gone or stopped. */
		pgdist_connect_server(&node->rs, pgdist_application_name());
		node->userid = GetUserId();
		if (node->rs.conn == NULL)
			snprintf(node->reason, REASON_LEN, "it could not be reached: %s", node->rs.error);
		node->rs.error = NULL;
	}
	nodes_stale = false;
}

static void
lock_wait_context(void *arg)
{
	errcontext("pgdist: waiting at most %d ms (pgdist.consistent_reads_timeout) for the two-phase commits in progress, to take this transaction's snapshot on every node",
			   pgdist_consistent_reads_timeout);
}

/* The commit lock in RowExclusiveLock, waiting at most pgdist.consistent_reads_timeout (a lock timeout error past it). */
static void
lock_commits(LOCKTAG *tag)
{
	int			nest = NewGUCNestLevel();
	char		timeout[32];
	ErrorContextCallback context;

	snprintf(timeout, sizeof(timeout), "%d", pgdist_consistent_reads_timeout);
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	context.callback = lock_wait_context;
	context.arg = NULL;
	context.previous = error_context_stack;
	error_context_stack = &context;
	(void) LockAcquire(tag, RowExclusiveLock, false, false);
	error_context_stack = context.previous;
	AtEOXact_GUC(true, nest);
}

/* Each connected node exports a snapshot, all at once, while no two-phase commit is half done. */
static void
take_cut(void)
{
	const char *command = XactIsoLevel == XACT_SERIALIZABLE
		? "START TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT pg_catalog.pg_export_snapshot()"
		: "START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_catalog.pg_export_snapshot()";
	LOCKTAG		tag;
	TimestampTz asked;
	TimestampTz granted;
	TimestampTz deadline;
	TimestampTz released;
	ListCell   *lc;
	int			exported = 0;

	connect_nodes();
	if (list_length(nodes) < 2)
		return;					/* one node: its own snapshot is consistent */
	pgdist_commit_lock_tag(&tag);
	asked = GetCurrentTimestamp();
	lock_commits(&tag);
	granted = GetCurrentTimestamp();
	/* From here on the exporting transactions exist: the end of the local transaction ends them. */
	xact_cut = true;
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (node->rs.conn != NULL && !PQsendQuery(node->rs.conn, command))
		{
			snprintf(node->reason, REASON_LEN, "its snapshot could not be asked for: %s",
					 pchomp(PQerrorMessage(node->rs.conn)));
			drop_connection(node);
		}
	}
	deadline = TimestampTzPlusMilliseconds(granted, pgdist_consistent_reads_timeout);
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);
		PGresult   *last = NULL;
		PGresult   *res;

		if (node->rs.conn == NULL)
			continue;
		if (!pgdist_wait_result(node->rs.conn, deadline, true))
		{
			snprintf(node->reason, REASON_LEN, "it did not give its snapshot within %d ms",
					 pgdist_consistent_reads_timeout);
			drop_connection(node);
			continue;
		}
		while ((res = PQgetResult(node->rs.conn)) != NULL)
		{
			PQclear(last);
			last = res;
		}
		if (last != NULL && PQresultStatus(last) == PGRES_TUPLES_OK && PQntuples(last) == 1)
		{
			strlcpy(node->snapshot, PQgetvalue(last, 0, 0), SNAPSHOT_ID_LEN);
			exported++;
		}
		else
			snprintf(node->reason, REASON_LEN, "it could not export its snapshot: %s",
					 pgdist_result_error(last, node->rs.conn));
		PQclear(last);
	}
	LockRelease(&tag, RowExclusiveLock, false);
	released = GetCurrentTimestamp();
	pg_atomic_fetch_add_u64(&pgdist_shared->consistent_snapshots, 1);
	pg_atomic_fetch_add_u64(&pgdist_shared->snapshot_wait_us, (uint64) (granted - asked));
	pg_atomic_fetch_add_u64(&pgdist_shared->snapshot_pause_us, (uint64) (released - granted));
	elog(DEBUG1, "pgdist: consistent snapshot on %d of %d nodes, %.3f ms waiting for two-phase commits, %.3f ms holding them back",
		 exported, list_length(nodes), (double) (granted - asked) / 1000.0, (double) (released - granted) / 1000.0);
}

/* Does any of postgres_fdw's connections have a remote transaction in this local transaction? */
static bool
remote_xact_open(FdwConn *fc, void *arg)
{
	if (fc->state != REMOTE_XACT_NONE)
	{
		*(bool *) arg = true;
		return false;
	}
	return true;
}

/* How many postgres_fdw servers the statement's foreign tables are on (counting stops at two). */
static int
statement_servers(PlannedStmt *stmt)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapperByName("postgres_fdw", true);
	Oid			first = InvalidOid;
	ListCell   *lc;

	if (fdw == NULL)
		return 0;
	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = (RangeTblEntry *) lfirst(lc);
		Oid			serverid;

		if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_FOREIGN_TABLE)
			continue;
		serverid = GetForeignServerIdByRelId(rte->relid);
		if (GetForeignServer(serverid)->fdwid != fdw->fdwid || serverid == first)
			continue;
		if (OidIsValid(first))
			return 2;
		first = serverid;
	}
	return OidIsValid(first) ? 1 : 0;
}

static bool
needs_cut(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	bool		open = false;

	if (IsolationUsesXactSnapshot())
	{
		if (statement_servers(stmt) < 1)
			return false;
	}
	else if (pgdist_consistent_reads != CONSISTENT_READS_ALL || IsTransactionBlock() ||
			 queryDesc->operation != CMD_SELECT || stmt->hasModifyingCTE || stmt->rowMarks != NIL ||
			 statement_servers(stmt) < 2)
		return false;
	/* Remote transactions started without a cut (the setting changed): a cut now would not be one. */
	fdwconn_foreach(remote_xact_open, &open);
	return !open;
}

static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	if (!xact_cut && pgdist_consistent_reads != CONSISTENT_READS_OFF && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		needs_cut(queryDesc))
		take_cut();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static bool
same_node(PGconn *a, PGconn *b)
{
	return strcmp(PQhost(a), PQhost(b)) == 0 && strcmp(PQport(a), PQport(b)) == 0 &&
		strcmp(PQdb(a), PQdb(b)) == 0;
}

/* The nodes left out of the cut, for a message. */
static char *
left_out(void)
{
	StringInfoData out;
	ListCell   *lc;

	initStringInfo(&out);
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (node->snapshot[0] == '\0')
			appendStringInfo(&out, "%sserver \"%s\": %s", out.len > 0 ? "; " : "", node->rs.name,
							 node->reason[0] ? node->reason : "not in the cut");
	}
	return out.len > 0 ? out.data : "none";
}

/* postgres_fdw starts a remote transaction in a local transaction with a cut: it imports its node's snapshot. */
static const char *
rewrite_start(FdwConn *fc, const char *sql)
{
	static char start[sizeof(FDW_START_SERIALIZABLE) + SNAPSHOT_ID_LEN + 64];
	ListCell   *lc;

	if (!xact_cut || (strcmp(sql, FDW_START_REPEATABLE_READ) != 0 && strcmp(sql, FDW_START_SERIALIZABLE) != 0))
		return NULL;
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);

		if (node->snapshot[0] != '\0' && same_node(node->rs.conn, fc->conn))
		{
			snprintf(start, sizeof(start), "%s; SET TRANSACTION SNAPSHOT '%s'", sql, node->snapshot);
			return start;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("pgdist: %s is not in this transaction's consistent snapshot", fdwconn_describe(fc)),
			 errdetail("The nodes left out when it was taken: %s.", left_out()),
			 errhint("Retry the transaction, or SET pgdist.consistent_reads = off to read each node at its own moment.")));
	return NULL;				/* not reached */
}

/* The end of the local transaction ends the exporting ones (no error may be raised here). */
static void
after_fdw_xact(XactEvent event)
{
	ListCell   *lc;

	if (!xact_cut || (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT && event != XACT_EVENT_PREPARE))
		return;
	xact_cut = false;
	foreach(lc, nodes)
	{
		SnapshotNode *node = (SnapshotNode *) lfirst(lc);
		PGTransactionStatusType status;

		node->snapshot[0] = '\0';
		if (node->rs.conn == NULL || node->ending)
			continue;
		status = PQtransactionStatus(node->rs.conn);
		if (status == PQTRANS_ACTIVE || status == PQTRANS_UNKNOWN)
			drop_connection(node);	/* an export whose answer was never read: the cut failed */
		else if (status != PQTRANS_IDLE)
		{
			if (PQsendQuery(node->rs.conn, "ROLLBACK"))
				node->ending = true;
			else
				drop_connection(node);
		}
	}
}

static const FdwConnObserver observer = {
	.rewrite_start = rewrite_start,
	.after_fdw_xact = after_fdw_xact,
};

void
pgdist_snapshot_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	fdwconn_observe(&observer);
}
