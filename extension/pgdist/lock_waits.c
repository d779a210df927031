/*
 * lock_waits.c: pgdist.lock_waits(min_wait), the edges of the wait graph
 * (waitgraph.c) that start at a coordinator backend waiting that long.
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "util.h"
#include "waitgraph.h"

typedef struct Listing
{
	ReturnSetInfo *rsinfo;
	double		min_s;
} Listing;

static void
list_waits(WaitGraph *g, void *arg)
{
	Listing    *listing = (Listing *) arg;
	ListCell   *lc;

	foreach(lc, g->edges)
	{
		WaitEdge   *e = (WaitEdge *) lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (e->from->key.server != COORDINATOR || e->from->waited_s < listing->min_s)
			continue;
		values[0] = Int32GetDatum(e->from->key.pid);
		values[1] = CStringGetTextDatum(pgdist_describe_wait_node(e->to, g->servers));
		values[2] = CStringGetTextDatum(e->where);
		values[3] = Float8GetDatum(e->from->waited_s);
		tuplestore_putvalues(listing->rsinfo->setResult, listing->rsinfo->setDesc, values, nulls);
	}
}

/* Cross-node lock waits: coordinator backends waiting at least min_wait for another session. */
PG_FUNCTION_INFO_V1(pgdist_lock_waits);
Datum
pgdist_lock_waits(PG_FUNCTION_ARGS)
{
	Interval   *min_wait = PG_GETARG_INTERVAL_P(0);
	Listing		listing;

	listing.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	listing.min_s = (double) min_wait->time / USECS_PER_SEC +
		(double) min_wait->day * SECS_PER_DAY + (double) min_wait->month * 30 * SECS_PER_DAY;
	pgdist_materialize(fcinfo);
	pgdist_with_wait_graph(false, list_waits, &listing);
	return (Datum) 0;
}
