/*
 * remote.c: pgdist's own connections to the foreign servers, for recovery,
 * deadlock detection and restore points (never postgres_fdw's connections).
 *
 * snapshot.c keeps connections of its own too, named after the backend.
 *
 * A node is every postgres_fdw foreign server of the current database that
 * a superuser owns (a server a non-superuser created could point the
 * superuser's maintenance connections anywhere), reached with the user
 * mapping of the current user, as postgres_fdw would.
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "remote.h"
#include "util.h"

#define CONNECT_TIMEOUT_S "5"

static bool
is_libpq_keyword(const char *keyword)
{
	static PQconninfoOption *defaults = NULL;

	if (defaults == NULL)
		defaults = PQconndefaults();
	for (PQconninfoOption *opt = defaults; opt != NULL && opt->keyword != NULL; opt++)
	{
		if (strcmp(opt->keyword, keyword) == 0)
			return strcmp(keyword, "application_name") != 0 &&
				strcmp(keyword, "fallback_application_name") != 0 &&
				strcmp(keyword, "client_encoding") != 0;
	}
	return false;
}

static int
add_options(List *options, const char **keywords, const char **values, int n)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (is_libpq_keyword(def->defname))
		{
			keywords[n] = def->defname;
			values[n] = defGetString(def);
			n++;
		}
	}
	return n;
}

static bool
has_user_mapping(Oid serverid)
{
	return SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(GetUserId()),
								 ObjectIdGetDatum(serverid)) ||
		SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							  ObjectIdGetDatum(serverid));
}

/* Connects rs (serverid and name set) as application_name; conn NULL and error set when it cannot. */
void
pgdist_connect_server(RemoteServer *rs, const char *application_name)
{
	ForeignServer *server = GetForeignServer(rs->serverid);
	UserMapping *mapping;
	const char **keywords;
	const char **values;
	int			n;
	bool		has_timeout = false;

	if (!has_user_mapping(rs->serverid))
	{
		rs->error = psprintf("no user mapping for \"%s\" on server \"%s\"",
							 GetUserNameFromId(GetUserId(), false), rs->name);
		return;
	}
	mapping = GetUserMapping(GetUserId(), rs->serverid);
	n = list_length(server->options) + list_length(mapping->options) + 3;
	keywords = (const char **) palloc(n * sizeof(char *));
	values = (const char **) palloc(n * sizeof(char *));
	n = add_options(server->options, keywords, values, 0);
	n = add_options(mapping->options, keywords, values, n);
	for (int i = 0; i < n; i++)
		has_timeout |= strcmp(keywords[i], "connect_timeout") == 0;
	if (!has_timeout)
	{
		keywords[n] = "connect_timeout";
		values[n++] = CONNECT_TIMEOUT_S;
	}
	keywords[n] = "application_name";
	values[n++] = application_name;
	keywords[n] = values[n] = NULL;

	rs->conn = PQconnectdbParams(keywords, values, false);
	if (PQstatus(rs->conn) != CONNECTION_OK)
	{
		rs->error = pchomp(PQerrorMessage(rs->conn));
		PQfinish(rs->conn);
		rs->conn = NULL;
	}
	pfree(keywords);
	pfree(values);
}

/* One RemoteServer per node, connected where it could be (conn NULL and error set otherwise). */
List *
pgdist_connect_servers(void)
{
	List	   *servers = NIL;
	ListCell   *cell;

	foreach(cell, pgdist_fdw_servers())
	{
		ForeignServer *server = (ForeignServer *) lfirst(cell);
		RemoteServer *rs;

		if (!superuser_arg(server->owner))
			continue;
		rs = (RemoteServer *) palloc0(sizeof(RemoteServer));
		rs->serverid = server->serverid;
		rs->name = pstrdup(server->servername);
		servers = lappend(servers, rs);
	}

	PG_TRY();
	{
		ListCell   *lc;

		/* Not pgdist:..., so maintenance sessions are never taken for a coordinator backend's. */
		foreach(lc, servers)
			pgdist_connect_server((RemoteServer *) lfirst(lc), "pgdist maintenance");
	}
	PG_CATCH();
	{
		pgdist_disconnect_servers(servers);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return servers;
}

void
pgdist_disconnect_servers(List *servers)
{
	ListCell   *lc;

	foreach(lc, servers)
	{
		RemoteServer *rs = (RemoteServer *) lfirst(lc);

		if (rs->conn != NULL)
			PQfinish(rs->conn);
		rs->conn = NULL;
	}
}

/*
 * Waits until conn has a whole result to read, or the deadline passes
 * (false). Interruptible waits process interrupts, so a cancel or a
 * shutdown is not held up by a slow node.
 */
bool
pgdist_wait_result(PGconn *conn, TimestampTz deadline, bool interruptible)
{
	for (;;)
	{
		TimestampTz now;
		int			rc;

		if (!PQconsumeInput(conn) || !PQisBusy(conn))
			return true;
		now = GetCurrentTimestamp();
		if (now >= deadline || PQsocket(conn) < 0)
			return false;
		/* DT_NOEND: no time limit */
		rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH |
							   (deadline == DT_NOEND ? 0 : WL_TIMEOUT), PQsocket(conn),
							   deadline == DT_NOEND ? -1L : (long) ((deadline - now) / 1000) + 1,
							   PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (interruptible)
				CHECK_FOR_INTERRUPTS();
		}
	}
}

/* The last result of one statement, or NULL when the node did not answer in time. */
PGresult *
pgdist_remote_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
					int timeout_ms)
{
	PGresult   *last = NULL;
	PGresult   *res;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	if (!pgdist_wait_result(conn, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms), true))
		return NULL;
	while ((res = PQgetResult(conn)) != NULL)
	{
		PQclear(last);
		last = res;
	}
	return last;
}

char *
pgdist_result_error(PGresult *res, PGconn *conn)
{
	if (res == NULL)
		return pstrdup("no answer in time");
	if (PQresultErrorMessage(res)[0] != '\0')
		return pchomp(PQresultErrorMessage(res));
	return pchomp(PQerrorMessage(conn));
}
