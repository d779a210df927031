/*
 * orphans.c: remote sessions holding a transaction for a coordinator
 * backend that no longer exists, or that has been stopped (SIGSTOP, a
 * debugger) for pgdist.frozen_backend_timeout, are terminated. The owner is
 * read from the session's application_name (appname.c). A live, running
 * coordinator backend's sessions are never touched.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "appname.h"
#include "orphans.h"
#include "remote.h"
#include "settings.h"
#include "shared.h"
#include "util.h"

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
							  1, params, PGDIST_REMOTE_QUERY_TIMEOUT_MS);
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

		if (!pgdist_parse_owner(PQgetvalue(res, row, 1), prefix, &pid, &start) ||
			(lost = owner_lost(pid, start, now)) == NULL)
			continue;
		remote_pid[0] = PQgetvalue(res, row, 0);
		killed = pgdist_remote_query(rs->conn, "SELECT pg_catalog.pg_terminate_backend($1::int)", 1,
									 remote_pid, PGDIST_REMOTE_QUERY_TIMEOUT_MS);
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
	char	   *prefix = pgdist_appname_prefix();
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
