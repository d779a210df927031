/*
 * deadlock.c: cross-node deadlocks, found in the wait graph (waitgraph.c)
 * and broken.
 *
 * A cycle seen in two passes in a row is broken by cancelling its youngest
 * transaction; the cancel surfaces as SQLSTATE 40P01 with the cycle in its
 * detail (deadlock_report.c), so applications retry it like a local
 * deadlock. A cycle of one node's own sessions is left to that node's
 * detector.
 */
#include "postgres.h"

#include <signal.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/procarray.h"

#include "deadlock.h"
#include "deadlock_report.h"
#include "shared.h"
#include "waitgraph.h"

typedef struct Victim
{
	int			pid;
	TimestampTz backend_start;
} Victim;

/* Victims found by the previous pass of this process: a cycle must be seen twice. */
static Victim previous[PGDIST_DEADLOCK_SLOTS];
static int	n_previous = 0;

/* What one pass found: its victims, and how many it cancelled. */
typedef struct Pass
{
	Victim		found[PGDIST_DEADLOCK_SLOTS];
	int			n_found;
	int			cancelled;
} Pass;

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
						 pgdist_describe_wait_node(e->from, servers), pgdist_describe_wait_node(e->to, servers), e->where);
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
	if (BackendPidGetProc(victim->key.pid) == NULL ||
		!pgdist_deadlock_report_post(victim->key.pid, victim->backend_start, message) ||
		kill(victim->key.pid, SIGINT) != 0)
		return false;
	pg_atomic_fetch_add_u64(&pgdist_shared->deadlocks_broken, 1);
	ereport(LOG, (errmsg("pgdist: distributed deadlock broken by cancelling process %d", victim->key.pid),
				  errdetail_internal("%s", message)));
	return true;
}

/* Breaks the cycles of g that the previous pass saw too. */
static void
break_cycles(WaitGraph *g, void *arg)
{
	Pass	   *pass = (Pass *) arg;
	WaitEdge   *closing;

	for (;;)
	{
		HASH_SEQ_STATUS scan;
		WaitNode   *n;
		WaitNode   *victim;
		List	   *edges;

		reset_search(g);
		closing = NULL;
		hash_seq_init(&scan, g->nodes);
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
		if (pass->n_found < PGDIST_DEADLOCK_SLOTS)
		{
			pass->found[pass->n_found].pid = victim->key.pid;
			pass->found[pass->n_found++].backend_start = victim->backend_start;
		}
		if (seen_before(victim) && cancel_victim(victim, cycle_message(edges, g->servers)))
			pass->cancelled++;
	}
}

/* One detection pass: returns the number of transactions cancelled. */
int
pgdist_deadlock_pass(void)
{
	Pass		pass;

	pass.n_found = 0;
	pass.cancelled = 0;
	pgdist_with_wait_graph(true, break_cycles, &pass);
	memcpy(previous, pass.found, sizeof(Victim) * pass.n_found);
	n_previous = pass.n_found;
	return pass.cancelled;
}

PG_FUNCTION_INFO_V1(pgdist_detect_deadlocks);
Datum
pgdist_detect_deadlocks(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pgdist_deadlock_pass());
}
