/*
 * waitgraph.h: the graph of lock waits across the coordinator and the
 * nodes, built by waitgraph.c for deadlock.c and lock_waits.c.
 */
#ifndef PGDIST_WAITGRAPH_H
#define PGDIST_WAITGRAPH_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

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
	int			dfs;			/* cycle search: 0 unvisited, 1 on the stack, 2 done */
	struct WaitEdge *via;
	bool		removed;		/* chosen as a victim in this pass */
} WaitNode;

typedef struct WaitEdge
{
	WaitNode   *from;
	WaitNode   *to;
	const char *where;
} WaitEdge;

typedef struct WaitGraph
{
	HTAB	   *nodes;
	List	   *servers;		/* RemoteServer, indexed by NodeKey.server */
	List	   *edges;
	bool		long_wait;		/* some coordinator backend waits past deadlock_timeout */
} WaitGraph;

typedef void (*WaitGraphUse) (WaitGraph *g, void *arg);

extern void pgdist_with_wait_graph(bool need_long_wait, WaitGraphUse use, void *arg);
extern const char *pgdist_describe_wait_node(WaitNode *n, List *servers);

#endif							/* PGDIST_WAITGRAPH_H */
