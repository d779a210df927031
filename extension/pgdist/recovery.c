/*
 * recovery.c: finish the prepared transactions twophase.c left on the nodes.
 *
 * For each prepared transaction of ours on a node: while the local
 * transaction that prepared it may still be deciding (its xid in progress
 * here), it is left alone; after that, its commit record decides, never a
 * guess: present -> COMMIT PREPARED, absent -> ROLLBACK PREPARED, both read
 * with one snapshot (outcome_of). Commit records that no
 * node holds a prepared transaction for any more are deleted, but only in a
 * pass that reached every node.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "recovery.h"
#include "remote.h"
#include "shared.h"
#include "twophase.h"
#include "util.h"

#define RECOVERY_QUERY_TIMEOUT_MS 10000

typedef enum Outcome
{
	OUTCOME_IN_PROGRESS,
	OUTCOME_COMMIT,
	OUTCOME_ROLLBACK
} Outcome;

static const char *const outcome_names[] = {"in progress", "committed", "aborted"};

/*
 * The outcome of a coordinator transaction, read with one snapshot. Not yet
 * completed in that snapshot (running, or past its xmax, which is only the
 * latest completed xid + 1, so the newest running transactions are past it)
 * while its xid has been handed out: in progress, wait. Completed: its commit
 * record, visible to the same snapshot once it committed, decides. An xid not
 * handed out (yet) belongs to no transaction: a crash handed it back before
 * its commit reached the WAL, so no record can exist and the record decides
 * too. Asking the commit log (pg_xact_status) and reading the record with a
 * second snapshot would race: a transaction is marked committed in the
 * commit log a moment before it leaves the running set.
 */
static Outcome
outcome_of(const char *transaction, FullTransactionId fxid)
{
	char		xid[32];
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	bool		isnull;
	Datum		completed;
	Datum		recorded;
	bool		handed_out;

	snprintf(xid, sizeof(xid), "%llu", (unsigned long long) U64FromFullTransactionId(fxid));
	args[0] = CStringGetTextDatum(xid);
	args[1] = CStringGetTextDatum(transaction);
	if (SPI_execute_with_args("SELECT pg_catalog.pg_visible_in_snapshot($1::pg_catalog.xid8, s),"
							  "       EXISTS (SELECT 1 FROM pgdist.commit_records WHERE transaction = $2)"
							  "  FROM pg_catalog.pg_current_snapshot() s",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pgdist: could not read the outcome of transaction %s", xid);
	/* Read after the snapshot: an xid handed out in between is past its xmax, and waits a pass. */
	handed_out = FullTransactionIdPrecedes(fxid, ReadNextFullTransactionId());
	completed = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (handed_out && !(!isnull && DatumGetBool(completed)))
		return OUTCOME_IN_PROGRESS;
	recorded = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	return (!isnull && DatumGetBool(recorded)) ? OUTCOME_COMMIT : OUTCOME_ROLLBACK;
}

static void
finish(RemoteServer *rs, const char *gid, bool commit)
{
	char	   *command = psprintf("%s PREPARED %s", commit ? "COMMIT" : "ROLLBACK", quote_literal_cstr(gid));
	PGresult   *res = pgdist_remote_query(rs->conn, command, 0, NULL, RECOVERY_QUERY_TIMEOUT_MS);

	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		pg_atomic_fetch_add_u64(&pgdist_shared->prepared_resolved, 1);
		ereport(LOG, (errmsg("pgdist: %s prepared transaction %s on server \"%s\"",
							 commit ? "committed" : "rolled back", gid, rs->name)));
	}
	else
		ereport(LOG, (errmsg("pgdist: could not finish prepared transaction %s on server \"%s\": %s",
							 gid, rs->name, pgdist_result_error(res, rs->conn))));
	PQclear(res);
}

typedef struct Pass
{
	bool		report_only;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	List	   *still_prepared;	/* transaction names seen prepared on some node */
	int			finished;
} Pass;

static void
report(Pass *pass, RemoteServer *rs, PGresult *res, int row, Outcome outcome)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = CStringGetTextDatum(rs->name);
	values[1] = CStringGetTextDatum(PQgetvalue(res, row, 0));
	values[2] = DirectFunctionCall1(float8_timestamptz, Float8GetDatum(strtod(PQgetvalue(res, row, 1), NULL)));
	values[3] = CStringGetTextDatum(PQgetvalue(res, row, 2));
	values[4] = CStringGetTextDatum(outcome_names[outcome]);
	tuplestore_putvalues(pass->tupstore, pass->tupdesc, values, nulls);
}

/* false when the node's prepared transactions could not be listed */
static bool
recover_server(Pass *pass, RemoteServer *rs)
{
	char		prefix[64];
	const char *params[1];
	PGresult   *res;

	snprintf(prefix, sizeof(prefix), PGDIST_GID_PREFIX "%llu_", (unsigned long long) GetSystemIdentifier());
	params[0] = prefix;
	res = pgdist_remote_query(rs->conn,
							  "SELECT gid, extract(epoch FROM prepared), owner FROM pg_catalog.pg_prepared_xacts"
							  " WHERE database = pg_catalog.current_database()"
							  " AND pg_catalog.starts_with(gid, $1) ORDER BY prepared",
							  1, params, RECOVERY_QUERY_TIMEOUT_MS);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		ereport(LOG, (errmsg("pgdist: could not list prepared transactions on server \"%s\": %s",
							 rs->name, pgdist_result_error(res, rs->conn))));
		PQclear(res);
		return false;
	}
	for (int row = 0; row < PQntuples(res); row++)
	{
		char		transaction[PGDIST_GID_LEN];
		FullTransactionId fxid;
		Outcome		outcome;

		if (!pgdist_parse_gid(PQgetvalue(res, row, 0), transaction, &fxid))
			continue;
		pass->still_prepared = lappend(pass->still_prepared, pstrdup(transaction));
		outcome = outcome_of(transaction, fxid);
		if (pass->report_only)
			report(pass, rs, res, row, outcome);
		else if (outcome != OUTCOME_IN_PROGRESS)
		{
			finish(rs, PQgetvalue(res, row, 0), outcome == OUTCOME_COMMIT);
			pass->finished++;
		}
	}
	PQclear(res);
	return true;
}

static List *
commit_records(void)
{
	List	   *names = NIL;

	if (SPI_execute("SELECT transaction FROM pgdist.commit_records", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "pgdist: could not read pgdist.commit_records");
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return names;
}

static bool
contains(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

/* Deletes the records, all of committed transactions, that no node needs any more. */
static void
forget_finished(List *records, List *still_prepared)
{
	ListCell   *lc;
	Oid			argtype = TEXTOID;

	foreach(lc, records)
	{
		Datum		arg;

		if (contains(still_prepared, (char *) lfirst(lc)))
			continue;
		arg = CStringGetTextDatum((char *) lfirst(lc));
		if (SPI_execute_with_args("DELETE FROM pgdist.commit_records WHERE transaction = $1",
								  1, &argtype, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "pgdist: could not delete from pgdist.commit_records");
	}
}

/* Finishes (or, report_only, lists into tupstore) the prepared transactions of every node. */
int
pgdist_recover(bool report_only, Tuplestorestate *tupstore, TupleDesc tupdesc)
{
	Pass		pass = {report_only, tupstore, tupdesc, NIL, 0};
	List	   *volatile servers = NIL;
	List	   *records;
	volatile bool every_node = true;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgdist: SPI_connect failed");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgdist'", true, 1) != SPI_OK_SELECT ||
		SPI_processed == 0)
	{
		/* Without the commit records nothing can be decided here. */
		SPI_finish();
		return 0;
	}
	/* Read before any node is listed: these transactions have committed and prepared all they will. */
	records = commit_records();
	servers = pgdist_connect_servers();
	PG_TRY();
	{
		ListCell   *lc;

		foreach(lc, servers)
		{
			RemoteServer *rs = (RemoteServer *) lfirst(lc);

			if (rs->conn == NULL)
				ereport(report_only ? NOTICE : LOG,
						(errmsg("pgdist: server \"%s\" skipped: %s", rs->name, rs->error)));
			if (rs->conn == NULL || !recover_server(&pass, rs))
				every_node = false;
		}
		if (every_node && !report_only)
			forget_finished(records, pass.still_prepared);
	}
	PG_FINALLY();
	{
		pgdist_disconnect_servers(servers);
	}
	PG_END_TRY();
	SPI_finish();
	return pass.finished;
}

PG_FUNCTION_INFO_V1(pgdist_recover_prepared);
Datum
pgdist_recover_prepared(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(pgdist_recover(false, NULL, NULL));
}

PG_FUNCTION_INFO_V1(pgdist_prepared_transactions);
Datum
pgdist_prepared_transactions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	pgdist_materialize(fcinfo);
	pgdist_recover(true, rsinfo->setResult, rsinfo->setDesc);
	return (Datum) 0;
}
