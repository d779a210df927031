/*
 * restore_point.c: pgdist.create_restore_point(name), a restore point on
 * the coordinator and every foreign server, consistent across them.
 *
 * It takes the commit decision lock of twophase.c exclusively, so no
 * two-phase commit decides while the points are taken.
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "remote.h"
#include "settings.h"
#include "twophase.h"
#include "util.h"

/*
 * A named restore point on this node and every foreign server, taken while
 * no two-phase commit is deciding: a transaction committed at one node's
 * point is committed or prepared (and then committed by recovery) at every
 * other node's. Returns each node with its restore point LSN and how long
 * commits were paused.
 */
PG_FUNCTION_INFO_V1(pgdist_create_restore_point);
Datum
pgdist_create_restore_point(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	const char *params[1] = {text_to_cstring(name)};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *servers;
	List	   *volatile lsns = NIL;
	LOCKTAG		tag;
	TimestampTz paused;
	volatile double paused_ms = 0;
	ListCell   *lc;
	volatile Datum local = (Datum) 0;

	if (!superuser())
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be superuser to create a restore point")));
	pgdist_materialize(fcinfo);
	/* Connected before commits pause, so the pause lasts only the restore points themselves. */
	servers = pgdist_connect_servers();
	PG_TRY();
	{
		foreach(lc, servers)
		{
			RemoteServer *rs = (RemoteServer *) lfirst(lc);

			if (rs->conn == NULL)
				ereport(ERROR, (errmsg("server \"%s\" cannot be reached: %s", rs->name, rs->error),
								errdetail("A restore point must be taken on every node at once.")));
		}
		pgdist_commit_lock_tag(&tag);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		paused = GetCurrentTimestamp();
		local = DirectFunctionCall1(pg_create_restore_point, PointerGetDatum(name));
		foreach(lc, servers)
		{
			RemoteServer *rs = (RemoteServer *) lfirst(lc);

			if (!PQsendQueryParams(rs->conn, "SELECT pg_catalog.pg_create_restore_point($1)::text",
								   1, NULL, params, NULL, NULL, 0))
				ereport(ERROR, (errmsg("could not send the restore point to server \"%s\": %s",
									   rs->name, pchomp(PQerrorMessage(rs->conn)))));
		}
		foreach(lc, servers)
		{
			RemoteServer *rs = (RemoteServer *) lfirst(lc);
			PGresult   *last = NULL;
			PGresult   *res;

			if (!pgdist_wait_result(rs->conn, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																		  pgdist_commit_timeout), true))
				ereport(ERROR, (errmsg("server \"%s\" did not answer within %d ms", rs->name,
									   pgdist_commit_timeout)));
			while ((res = PQgetResult(rs->conn)) != NULL)
			{
				PQclear(last);
				last = res;
			}
			if (last == NULL || PQresultStatus(last) != PGRES_TUPLES_OK)
				ereport(ERROR, (errmsg("restore point \"%s\" failed on server \"%s\": %s", params[0],
									   rs->name, pgdist_result_error(last, rs->conn)),
								errdetail("The restore points already taken on other nodes are not consistent on their own.")));
			lsns = lappend(lsns, pstrdup(PQgetvalue(last, 0, 0)));
			PQclear(last);
		}
		LockRelease(&tag, ExclusiveLock, false);
		paused_ms = (double) (GetCurrentTimestamp() - paused) / 1000.0;
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(servers);
	}
	PG_END_TRY();

	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		ListCell   *lsn;

		values[0] = CStringGetTextDatum("coordinator");
		values[1] = local;
		values[2] = Float8GetDatum(paused_ms);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		forboth(lc, servers, lsn, lsns)
		{
			values[0] = CStringGetTextDatum(((RemoteServer *) lfirst(lc))->name);
			values[1] = DirectFunctionCall1(pg_lsn_in, CStringGetDatum((char *) lfirst(lsn)));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
