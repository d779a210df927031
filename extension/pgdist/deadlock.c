/*
 * deadlock.c: cross-node deadlocks and orphaned remote sessions.
 *
 * Each node's deadlock detector sees only its own half of a distributed
 * deadlock: a session waiting for one that is idle in transaction. Here the
 * halves are joined. Every remote session postgres_fdw opens is named
 * pgdist:<system id>:<pid>:<backend start> (libpq_shim.c), so a lock wait on
 * a node becomes an edge between the coordinator backends owning the two
 * sessions; the coordinator's own lock waits add theirs. A cycle seen in two
 * passes in a row is broken by cancelling its youngest transaction; the
 * cancel surfaces as SQLSTATE 40P01 with the cycle in its detail
 * (pgdist_emit_log_hook), so applications retry it like a local deadlock.
 *
 * The same names find orphans: remote sessions holding a transaction for a
 * coordinator backend that no longer exists, or that has been stopped
 * (SIGSTOP, a debugger) for pgdist.frozen_backend_timeout. A live,
 * running coordinator backend's sessions are never touched.
 */
#include "pgdist.h"

#include <signal.h>

#include "access/xlog.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define DEADLOCK_QUERY_TIMEOUT_MS 5000
#define COORDINATOR (-1)

typedef struct NodeKey
{
	int			server;			/* COORDINATOR, or the index of a foreign server */
	int			pid;
} NodeKey;

typedef struct WaitNode
{
	NodeKey		key;
	bool		active;			/* a coordinator backend running a statement */
	TimestampTz backend_start;
	TimestampTz xact_start;
	double		waited_s;		/* how long its statement has run */
	List	   *edges;
	int			dfs;			/* 0 unvisited, 1 on the stack, 2 done */
	struct WaitEdge *via;
	bool		removed;		/* chosen as a victim in this pass */
} WaitNode;

typedef struct WaitEdge
{
	WaitNode	   *from;
	WaitNode	   *to;
	const char *where;
} WaitEdge;

typedef struct WaitGraph
{
	HTAB	   *nodes;
	List	   *servers;
	List	   *edges;
	bool		long_wait;		/* some coordinator backend waits past deadlock_timeout */
} WaitGraph;

typedef struct Victim
{
	int			pid;
	TimestampTz backend_start;
} Victim;

/* Victims found by the previous pass of this process: a cycle must be seen twice. */
static Victim previous[PGDIST_DEADLOCK_SLOTS];
static int	n_previous = 0;

static WaitNode *
node(WaitGraph *g, int server, int pid)
{
	NodeKey		key;
	WaitNode	   *n;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.server = server;
	key.pid = pid;
	n = (WaitNode *) hash_search(g->nodes, &key, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) n) + sizeof(NodeKey), 0, sizeof(WaitNode) - sizeof(NodeKey));
	}
	return n;
}

static void
add_edge(WaitGraph *g, WaitNode *from, WaitNode *to, const char *where)
{
	WaitEdge	   *e = (WaitEdge *) palloc(sizeof(WaitEdge));

	e->from = from;
	e->to = to;
	e->where = where;
	from->edges = lappend(from->edges, e);
	g->edges = lappend(g->edges, e);
}

static char *
appname_prefix(void)
{
	return psprintf(PGDIST_APPNAME_PREFIX "%llu:", (unsigned long long) GetSystemIdentifier());
}

/* The coordinator backend named by a remote session's application_name. */
static bool
parse_owner(const char *appname, const char *prefix, int *pid, TimestampTz *start)
{
	unsigned long long s;
	int			used = 0;

	if (strncmp(appname, prefix, strlen(prefix)) != 0 ||
		sscanf(appname + strlen(prefix), "%d:%llx%n", pid, &s, &used) != 2 ||
		appname[strlen(prefix) + used] != '\0')
		return false;
	*start = (TimestampTz) s;
	return true;
}

static List *
parse_pids(const char *text)
{
	List	   *pids = NIL;
	char	   *copy = pstrdup(text);
	char	   *token;
	char	   *save;

	for (token = strtok_r(copy, ",", &save); token; token = strtok_r(NULL, ",", &save))
		pids = lappend_int(pids, atoi(token));
	return pids;
}

static void
read_coordinator(WaitGraph *g)
{
	if (SPI_execute("SELECT pid, backend_start, xact_start,"
					" pg_catalog.array_to_string(pg_catalog.pg_blocking_pids(pid), ','),"
					" wait_event_type IS NOT NULL AND now() - state_change"
					"   >= pg_catalog.current_setting('deadlock_timeout')::interval,"
					" extract(epoch FROM now() - state_change)::float8"
					" FROM pg_catalog.pg_stat_activity"
					" WHERE backend_type = 'client backend' AND state = 'active'"
					" AND xact_start IS NOT NULL AND pid <> pg_catalog.pg_backend_pid()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "pgdist: could not read pg_stat_activity");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		WaitNode	   *n = node(g, COORDINATOR, DatumGetInt32(SPI_getbinval(tuple, desc, 1, &isnull)));

		n->active = true;
		n->backend_start = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 2, &isnull));
		n->xact_start = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 3, &isnull));
		n->waited_s = DatumGetFloat8(SPI_getbinval(tuple, desc, 6, &isnull));
		g->long_wait |= DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
	}
	/* Second loop: edges need every node's start time first. */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *blockers = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4);
		ListCell   *lc;

		foreach(lc, parse_pids(blockers ? blockers : ""))
			add_edge(g, node(g, COORDINATOR, pid), node(g, COORDINATOR, lfirst_int(lc)),
					 "the coordinator");
	}
}

/* Who owns the remote session in row `row`: a coordinator backend, or itself (a node-local session). */
static WaitNode *
owner(WaitGraph *g, int server, PGresult *res, int row, const char *prefix)
{
	int			pid;
	TimestampTz start;
	WaitNode	   *n;

	if (parse_owner(PQgetvalue(res, row, 1), prefix, &pid, &start))
	{
		NodeKey		key;

		memset(&key, 0, sizeof(key));
		key.server = COORDINATOR;
		key.pid = pid;
		n = (WaitNode *) hash_search(g->nodes, &key, HASH_FIND, NULL);
		/* An active backend must be the one that opened the session (pids get reused). */
		if (n == NULL || !n->active || n->backend_start == start)
			return node(g, COORDINATOR, pid);
	}
	return node(g, server, atoi(PQgetvalue(res, row, 0)));
}

static void
read_server(WaitGraph *g, int server, RemoteServer *rs, const char *prefix)
{
	const char *params[1] = {prefix};
	PGresult   *res;

	res = pgdist_remote_query(rs->conn,
							  "SELECT a.pid, a.application_name,"
							  " pg_catalog.array_to_string(pg_catalog.pg_blocking_pids(a.pid), ','),"
							  " (SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%I.%I', n.nspname, c.relname), ', ')"
							  "    FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation"
							  "    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
							  "    WHERE l.pid = a.pid AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d"
							  "                      WHERE d.datname = pg_catalog.current_database())"
							  "    AND (NOT l.granted OR l.locktype = 'tuple')),"
							  " a.wait_event_type IS NOT DISTINCT FROM 'Lock'"
							  " FROM pg_catalog.pg_stat_activity a"
							  " WHERE a.backend_type = 'client backend'"
							  " AND (a.wait_event_type = 'Lock' OR pg_catalog.starts_with(a.application_name, $1))",
							  1, params, DEADLOCK_QUERY_TIMEOUT_MS);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		ereport(LOG, (errmsg("pgdist: could not read lock waits on server \"%s\": %s",
							 rs->name, pgdist_result_error(res, rs->conn))));
		PQclear(res);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++)
	{
		WaitNode	   *from;
		ListCell   *lc;
		const char *where;

		if (strcmp(PQgetvalue(res, row, 4), "t") != 0)
			continue;
		from = owner(g, server, res, row, prefix);
		where = PQgetisnull(res, row, 3)
			? psprintf("server \"%s\"", rs->name)
			: psprintf("server \"%s\" (%s)", rs->name, PQgetvalue(res, row, 3));
		foreach(lc, parse_pids(PQgetvalue(res, row, 2)))
		{
			WaitNode	   *to = NULL;

			for (int other = 0; other < PQntuples(res) && to == NULL; other++)
				if (atoi(PQgetvalue(res, other, 0)) == lfirst_int(lc))
					to = owner(g, server, res, other, prefix);
			add_edge(g, from, to ? to : node(g, server, lfirst_int(lc)), where);
		}
	}
	PQclear(res);
}

static void
build_graph(WaitGraph *g, bool need_long_wait)
{
	char	   *prefix = appname_prefix();
	ListCell   *lc;
	int			server = 0;

	memset(g, 0, sizeof(*g));
	g->nodes = pgdist_hash("pgdist wait graph", 64, sizeof(NodeKey), sizeof(WaitNode), CurrentMemoryContext);
	read_coordinator(g);
	if (need_long_wait && !g->long_wait)
		return;
	g->servers = pgdist_connect_servers();
	foreach(lc, g->servers)
	{
		RemoteServer *rs = (RemoteServer *) lfirst(lc);

		if (rs->conn != NULL)
			read_server(g, server, rs, prefix);
		server++;
	}
}

static const char *
describe(WaitNode *n, List *servers)
{
	if (n->key.server == COORDINATOR)
		return psprintf("process %d", n->key.pid);
	return psprintf("session %d on server \"%s\"", n->key.pid,
					((RemoteServer *) list_nth(servers, n->key.server))->name);
}

/* Depth-first search from n; returns the first edge that closes a cycle. */
static WaitEdge *
find_cycle(WaitNode *n)
{
	ListCell   *lc;

	n->dfs = 1;
	foreach(lc, n->edges)
	{
		WaitEdge	   *e = (WaitEdge *) lfirst(lc);
		WaitEdge	   *closing;

		if (e->to->removed)
			continue;
		if (e->to->dfs == 1)
			return e;
		if (e->to->dfs == 0)
		{
			e->to->via = e;
			if ((closing = find_cycle(e->to)) != NULL)
				return closing;
		}
	}
	n->dfs = 2;
	return NULL;
}

static void
reset_search(WaitGraph *g)
{
	HASH_SEQ_STATUS scan;
	WaitNode	   *n;

	hash_seq_init(&scan, g->nodes);
	while ((n = (WaitNode *) hash_seq_search(&scan)) != NULL)
	{
		n->dfs = 0;
		n->via = NULL;
	}
}

/* The cycle closed by `closing`, as its edges in order; NULL victim when no coordinator backend is in it. */
static List *
cycle_edges(WaitEdge *closing, WaitNode **victim)
{
	List	   *edges = list_make1(closing);
	WaitNode	   *n = closing->from;

	*victim = NULL;
	for (;;)
	{
		if (n->key.server == COORDINATOR && n->active &&
			(*victim == NULL || n->xact_start > (*victim)->xact_start))
			*victim = n;
		if (n == closing->to)
			break;
		edges = lcons(n->via, edges);
		n = n->via->from;
	}
	return edges;
}

static char *
cycle_message(List *edges, List *servers)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, edges)
	{
		WaitEdge	   *e = (WaitEdge *) lfirst(lc);

		appendStringInfo(&buf, "%s%s waits for %s on %s", buf.len ? "; " : "",
						 describe(e->from, servers), describe(e->to, servers), e->where);
	}
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

static bool
seen_before(WaitNode *victim)
{
	for (int i = 0; i < n_previous; i++)
		if (previous[i].pid == victim->key.pid && previous[i].backend_start == victim->backend_start)
			return true;
	return false;
}

static bool
cancel_victim(WaitNode *victim, const char *message)
{
	int			slot = -1;

	if (BackendPidGetProc(victim->key.pid) == NULL)
		return false;
	SpinLockAcquire(&pgdist_shared->mutex);
	for (int i = 0; i < PGDIST_DEADLOCK_SLOTS && slot < 0; i++)
		if (pgdist_shared->slots[i].pid == 0 || pgdist_shared->slots[i].pid == victim->key.pid)
			slot = i;
	if (slot >= 0)
	{
		pgdist_shared->slots[slot].pid = victim->key.pid;
		pgdist_shared->slots[slot].backend_start = victim->backend_start;
		strlcpy(pgdist_shared->slots[slot].message, message, PGDIST_MESSAGE_LEN);
	}
	SpinLockRelease(&pgdist_shared->mutex);
	if (slot < 0 || kill(victim->key.pid, SIGINT) != 0)
		return false;
	pg_atomic_fetch_add_u64(&pgdist_shared->deadlocks_broken, 1);
	ereport(LOG, (errmsg("pgdist: distributed deadlock broken by cancelling process %d", victim->key.pid),
				  errdetail_internal("%s", message)));
	return true;
}

/* One detection pass: returns the number of transactions cancelled. */
int
pgdist_deadlock_pass(void)
{
	WaitGraph		g;
	Victim		found[PGDIST_DEADLOCK_SLOTS];
	int			n_found = 0;
	int			cancelled = 0;
	WaitEdge	   *closing;

	memset(&g, 0, sizeof(g));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgdist: SPI_connect failed");
	PG_TRY();
	{
		build_graph(&g, true);
		for (;;)
		{
			HASH_SEQ_STATUS scan;
			WaitNode	   *n;
			WaitNode	   *victim;
			List	   *edges;

			reset_search(&g);
			closing = NULL;
			hash_seq_init(&scan, g.nodes);
			while (closing == NULL && (n = (WaitNode *) hash_seq_search(&scan)) != NULL)
				if (!n->removed && n->dfs == 0)
					closing = find_cycle(n);
			if (closing == NULL)
				break;
			hash_seq_term(&scan);
			edges = cycle_edges(closing, &victim);
			if (victim == NULL)
			{
				/* A cycle of node-local sessions: that node's own detector breaks it. */
				closing->from->removed = true;
				continue;
			}
			victim->removed = true;
			if (n_found < PGDIST_DEADLOCK_SLOTS)
			{
				found[n_found].pid = victim->key.pid;
				found[n_found++].backend_start = victim->backend_start;
			}
			if (seen_before(victim) && cancel_victim(victim, cycle_message(edges, g.servers)))
				cancelled++;
		}
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(g.servers);
	}
	PG_END_TRY();
	memcpy(previous, found, sizeof(Victim) * n_found);
	n_previous = n_found;
	SPI_finish();
	return cancelled;
}

PG_FUNCTION_INFO_V1(pgdist_detect_deadlocks);
Datum
pgdist_detect_deadlocks(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pgdist_deadlock_pass());
}

/* Cross-node lock waits: coordinator backends waiting at least min_wait for another session. */
PG_FUNCTION_INFO_V1(pgdist_lock_waits);
Datum
pgdist_lock_waits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *min_wait = PG_GETARG_INTERVAL_P(0);
	double		min_s = (double) min_wait->time / USECS_PER_SEC +
		(double) min_wait->day * SECS_PER_DAY + (double) min_wait->month * 30 * SECS_PER_DAY;
	WaitGraph		g;

	pgdist_materialize(fcinfo);
	memset(&g, 0, sizeof(g));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgdist: SPI_connect failed");
	PG_TRY();
	{
		ListCell   *lc;

		build_graph(&g, false);
		foreach(lc, g.edges)
		{
			WaitEdge	   *e = (WaitEdge *) lfirst(lc);
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			if (e->from->key.server != COORDINATOR || e->from->waited_s < min_s)
				continue;
			values[0] = Int32GetDatum(e->from->key.pid);
			values[1] = CStringGetTextDatum(describe(e->to, g.servers));
			values[2] = CStringGetTextDatum(e->where);
			values[3] = Float8GetDatum(e->from->waited_s);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(g.servers);
	}
	PG_END_TRY();
	SPI_finish();
	return (Datum) 0;
}

/* Error reporting of the victim: the cancel becomes a deadlock error that names the cycle. */
void
pgdist_emit_log_hook(ErrorData *edata)
{
	char		message[PGDIST_MESSAGE_LEN];
	bool		found = false;

	if (edata->elevel != ERROR || edata->sqlerrcode != ERRCODE_QUERY_CANCELED || pgdist_shared == NULL)
		return;
	SpinLockAcquire(&pgdist_shared->mutex);
	for (int i = 0; i < PGDIST_DEADLOCK_SLOTS && !found; i++)
	{
		DeadlockSlot *slot = &pgdist_shared->slots[i];

		if (slot->pid == MyProcPid && slot->backend_start == MyStartTimestamp)
		{
			strlcpy(message, slot->message, sizeof(message));
			slot->pid = 0;
			found = true;
		}
	}
	SpinLockRelease(&pgdist_shared->mutex);
	if (!found)
		return;
	edata->sqlerrcode = ERRCODE_T_R_DEADLOCK_DETECTED;
	edata->message = pstrdup("canceling the transaction: distributed deadlock detected");
	edata->detail = pstrdup(message);
	edata->hint = pstrdup("This transaction was the youngest in the cycle. Retry it.");
}

/* At the end of every transaction: a cancel meant for it must not hit the next one. */
void
pgdist_clear_own_slot(void)
{
	if (pgdist_shared == NULL)
		return;
	for (int i = 0; i < PGDIST_DEADLOCK_SLOTS; i++)
	{
		DeadlockSlot *slot = &pgdist_shared->slots[i];

		/* An unlocked read is enough to know there is nothing of ours. */
		if (slot->pid != MyProcPid)
			continue;
		SpinLockAcquire(&pgdist_shared->mutex);
		if (slot->pid == MyProcPid)
			slot->pid = 0;
		SpinLockRelease(&pgdist_shared->mutex);
	}
}

/* Orphans ---------------------------------------------------------------- */

typedef struct Frozen
{
	int			pid;			/* key */
	TimestampTz backend_start;
	TimestampTz since;
} Frozen;

static HTAB *frozen = NULL;

/* True when the process is stopped (state T or t in /proc/<pid>/stat). */
static bool
process_stopped(int pid)
{
	char		path[64];
	char		buf[512];
	FILE	   *f;
	size_t		len;
	char	   *close;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	close = strrchr(buf, ')');
	return close != NULL && close[1] == ' ' && (close[2] == 'T' || close[2] == 't');
}

/* Why the owner is lost: "gone", or "stopped" for pgdist.frozen_backend_timeout; NULL while it is not. */
static const char *
owner_lost(int pid, TimestampTz start, TimestampTz now)
{
	Frozen	   *f;
	bool		found;

	if (SPI_execute(psprintf("SELECT backend_start FROM pg_catalog.pg_stat_activity WHERE pid = %d", pid),
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "pgdist: could not read pg_stat_activity");
	if (SPI_processed == 0 ||
		DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &found)) != start)
		return "gone";
	if (!process_stopped(pid))
	{
		hash_search(frozen, &pid, HASH_REMOVE, NULL);
		return NULL;
	}
	f = (Frozen *) hash_search(frozen, &pid, HASH_ENTER, &found);
	if (!found || f->backend_start != start)
	{
		f->backend_start = start;
		f->since = now;
	}
	return now - f->since >= (TimestampTz) pgdist_frozen_backend_timeout * USECS_PER_SEC ? "stopped" : NULL;
}

static int
reap_server(RemoteServer *rs, const char *prefix, TimestampTz now)
{
	const char *params[1] = {prefix};
	PGresult   *res;
	int			terminated = 0;

	res = pgdist_remote_query(rs->conn,
							  "SELECT pid, application_name FROM pg_catalog.pg_stat_activity"
							  " WHERE pg_catalog.starts_with(application_name, $1) AND state <> 'idle'",
							  1, params, DEADLOCK_QUERY_TIMEOUT_MS);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		PQclear(res);
		return 0;
	}

	/*
	 * pg_stat_activity is read once per transaction and kept: a coordinator
	 * backend started since then would look gone and lose its remote session.
	 * Read afresh, it is newer than the remote list just fetched.
	 */
	pgstat_clear_snapshot();
	for (int row = 0; row < PQntuples(res); row++)
	{
		int			pid;
		TimestampTz start;
		const char *remote_pid[1];
		const char *lost;
		PGresult   *killed;

		if (!parse_owner(PQgetvalue(res, row, 1), prefix, &pid, &start) ||
			(lost = owner_lost(pid, start, now)) == NULL)
			continue;
		remote_pid[0] = PQgetvalue(res, row, 0);
		killed = pgdist_remote_query(rs->conn, "SELECT pg_catalog.pg_terminate_backend($1::int)", 1,
									 remote_pid, DEADLOCK_QUERY_TIMEOUT_MS);
		if (killed != NULL && PQresultStatus(killed) == PGRES_TUPLES_OK)
		{
			terminated++;
			pg_atomic_fetch_add_u64(&pgdist_shared->orphans_terminated, 1);
			ereport(LOG, (errmsg("pgdist: terminated session %s on server \"%s\": its coordinator process %d is %s",
								 remote_pid[0], rs->name, pid, lost)));
		}
		PQclear(killed);
	}
	PQclear(res);
	return terminated;
}

/* One pass over every node: returns the number of orphaned sessions terminated. */
int
pgdist_orphan_pass(void)
{
	List	   *servers;
	char	   *prefix = appname_prefix();
	TimestampTz now = GetCurrentTimestamp();
	int			terminated = 0;

	if (frozen == NULL)
		frozen = pgdist_hash("pgdist stopped backends", 16, sizeof(int), sizeof(Frozen), TopMemoryContext);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgdist: SPI_connect failed");
	servers = pgdist_connect_servers();
	PG_TRY();
	{
		ListCell   *lc;

		foreach(lc, servers)
		{
			RemoteServer *rs = (RemoteServer *) lfirst(lc);

			if (rs->conn != NULL)
				terminated += reap_server(rs, prefix, now);
		}
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(servers);
	}
	PG_END_TRY();
	SPI_finish();
	return terminated;
}

PG_FUNCTION_INFO_V1(pgdist_terminate_orphans);
Datum
pgdist_terminate_orphans(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pgdist_orphan_pass());
}
