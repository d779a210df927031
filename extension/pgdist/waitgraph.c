/*
 * waitgraph.c: who waits for whom, on the coordinator and on every node.
 *
 * Each node's deadlock detector sees only its own half of a distributed
 * deadlock: a session waiting for one that is idle in transaction. Here the
 * halves are joined. Every remote session postgres_fdw opens is named
 * after the coordinator backend that owns it (appname.c), so a lock wait on
 * a node becomes an edge between the coordinator backends owning the two
 * sessions; the coordinator's own lock waits add theirs. deadlock.c looks
 * for cycles in the graph, lock_waits.c lists its edges.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "appname.h"
#include "remote.h"
#include "util.h"
#include "waitgraph.h"

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

	if (pgdist_parse_owner(PQgetvalue(res, row, 1), prefix, &pid, &start))
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
							  1, params, PGDIST_REMOTE_QUERY_TIMEOUT_MS);
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
	char	   *prefix = pgdist_appname_prefix();
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

/* A node of the graph in a message: "process <pid>" or "session <pid> on server \"<name>\"". */
const char *
pgdist_describe_wait_node(WaitNode *n, List *servers)
{
	if (n->key.server == COORDINATOR)
		return psprintf("process %d", n->key.pid);
	return psprintf("session %d on server \"%s\"", n->key.pid,
					((RemoteServer *) list_nth(servers, n->key.server))->name);
}


/*
 * Builds the wait graph of the coordinator and every node (or, with
 * need_long_wait, of the coordinator only unless one of its backends waits
 * past deadlock_timeout), hands it to use, and closes the connections to
 * the nodes. The graph lives in SPI's memory: it is gone once this returns.
 */
void
pgdist_with_wait_graph(bool need_long_wait, WaitGraphUse use, void *arg)
{
	WaitGraph	g;

	memset(&g, 0, sizeof(g));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgdist: SPI_connect failed");
	PG_TRY();
	{
		build_graph(&g, need_long_wait);
		use(&g, arg);
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(g.servers);
	}
	PG_END_TRY();
	SPI_finish();
}
