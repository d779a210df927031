/*
 * remote.h: pgdist's own connections to the foreign servers (recovery,
 * deadlock detection, orphans, restore points, consistent snapshots), never
 * postgres_fdw's.
 */
#ifndef PGDIST_REMOTE_H
#define PGDIST_REMOTE_H

#include "datatype/timestamp.h"
#include "libpq-fe.h"
#include "nodes/pg_list.h"

/* How long a maintenance query waits for a node (deadlock detection, orphans). */
#define PGDIST_REMOTE_QUERY_TIMEOUT_MS 5000

typedef struct RemoteServer
{
	Oid			serverid;
	char	   *name;
	PGconn	   *conn;			/* NULL when it could not be reached */
	char	   *error;			/* why, when conn is NULL */
} RemoteServer;

extern List *pgdist_connect_servers(void);
extern void pgdist_connect_server(RemoteServer *rs, const char *application_name);
extern void pgdist_disconnect_servers(List *servers);
extern PGresult *pgdist_remote_query(PGconn *conn, const char *sql, int nparams,
									 const char *const *params, int timeout_ms);
extern bool pgdist_wait_result(PGconn *conn, TimestampTz deadline, bool interruptible);
extern char *pgdist_result_error(PGresult *res, PGconn *conn);

#endif							/* PGDIST_REMOTE_H */
