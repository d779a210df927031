/*
 * twophase.c: atomic commit of transactions that wrote on more than one node.
 *
 * At pre-commit, before postgres_fdw sends its COMMITs, the early callback
 * counts the participants: the remote transactions that wrote, plus this
 * node when it wrote too. With two or more, the commit becomes two-phase:
 *   1. a commit record (a row of pgdist.commit_records naming the
 *      transaction) is written in the local transaction;
 *   2. each writing remote transaction gets PREPARE TRANSACTION 'gid'
 *      instead of COMMIT (the connection layer asks prepare_instead when
 *      postgres_fdw commits it, so postgres_fdw's parallel_commit prepares
 *      them in parallel); any failure
 *      there aborts the local transaction, and its commit record with it;
 *   3. the local commit, flushed to disk whatever synchronous_commit says, is
 *      the decision;
 *   4. after it, COMMIT PREPARED on each (ROLLBACK PREPARED after an abort).
 * The commit fails closed: while it is two-phase, a connection that wrote
 * may be sent nothing but postgres_fdw's COMMIT (which becomes the PREPARE),
 * and once postgres_fdw's callback is done every one of them must be
 * prepared; otherwise the commit fails before anything is committed, and
 * the abort rolls back the parts already prepared.
 * A prepared transaction left behind by a crash or a lost connection is
 * finished by recovery.c: committed when its commit record exists, rolled
 * back when it does not and the local transaction is no longer in progress.
 * The gid is pgdist_<system id>_<full xid>_<backend nonce>_<n>: the xid
 * tells whether the decision may still be pending, the nonce keeps gids
 * unique when a crash lets an xid that never reached the WAL be handed out
 * again. Transactions that wrote on one node keep postgres_fdw's one-phase
 * commit. Without the extension's objects in the database (CREATE EXTENSION
 * pgdist) there is nowhere to record a decision, and commits stay one-phase
 * with a warning.
 *
 * The decision takes a share lock (pgdist_commit_lock_tag) until the end of
 * the transaction; restore points take it exclusively, so none falls between
 * the commits of one transaction on two nodes, and consistent reads
 * (snapshot.c) in RowExclusiveLock, for the instant of their snapshots.
 */
#include "postgres.h"

#include <sys/socket.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fdwconn.h"
#include "remote.h"
#include "settings.h"
#include "shared.h"
#include "twophase.h"

#define PGDIST_LOCK_KEY 0x70676473	/* "pgds" */
#define PGDIST_LOCK_COMMIT 1

static bool xact_two_phase = false;
static char xact_name[PGDIST_GID_LEN];	/* the commit record's transaction, gid without _<n> */
static uint32 xact_prepared = 0;
static int	xact_writers = 0;			/* the remote transactions that wrote, at the decision */

static void resolve_prepared(bool commit);

void
pgdist_commit_lock_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, PGDIST_LOCK_KEY, PGDIST_LOCK_COMMIT, 2);
}

static bool
count_writers(FdwConn *fc, void *arg)
{
	if (fc->state == REMOTE_XACT_WROTE)
		(*(int *) arg)++;
	return true;
}

/* The relation of commit records, or InvalidOid where CREATE EXTENSION pgdist has not run. */
static Oid
commit_records_relid(void)
{
	Oid			schema = get_namespace_oid("pgdist", true);

	return OidIsValid(schema) ? get_relname_relid("commit_records", schema) : InvalidOid;
}

static uint64
backend_nonce(void)
{
	static uint64 nonce = 0;

	while (nonce == 0)
		if (!pg_strong_random(&nonce, sizeof(nonce)))
			nonce = (uint64) MyStartTimestamp ^ ((uint64) MyProcPid << 32);
	return nonce;
}

static void
write_commit_record(Oid relid)
{
	Relation	rel = table_open(relid, RowExclusiveLock);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tuple;

	values[0] = CStringGetTextDatum(xact_name);
	values[1] = TimestampTzGetDatum(GetCurrentTimestamp());
	tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsert(rel, tuple);
	heap_freetuple(tuple);
	table_close(rel, NoLock);
}

/* The decision, at pre-commit before postgres_fdw sends its COMMITs. */
static void
decide(void)
{
	static bool warned = false;
	int			writers = 0;
	Oid			records;
	LOCKTAG		tag;

	xact_two_phase = false;
	xact_prepared = 0;
	fdwconn_foreach(count_writers, &writers);
	if (writers == 0)
		return;
	if (!pgdist_two_phase_commit ||
		writers + (TransactionIdIsValid(GetTopTransactionIdIfAny()) ? 1 : 0) < 2)
	{
		pg_atomic_fetch_add_u64(&pgdist_shared->one_phase_commits, 1);
		return;
	}
	if (!OidIsValid(records = commit_records_relid()))
	{
		if (!warned)
			ereport(WARNING,
					(errmsg("pgdist: transactions writing on several nodes commit in one phase in database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errhint("Run CREATE EXTENSION pgdist in it for two-phase commit.")));
		warned = true;
		pg_atomic_fetch_add_u64(&pgdist_shared->one_phase_commits, 1);
		return;
	}
	pgdist_commit_lock_tag(&tag);
	(void) LockAcquire(&tag, ShareLock, false, false);
	snprintf(xact_name, sizeof(xact_name), PGDIST_GID_PREFIX "%llu_%llu_%016llx",
			 (unsigned long long) GetSystemIdentifier(),
			 (unsigned long long) U64FromFullTransactionId(GetTopFullTransactionId()),
			 (unsigned long long) backend_nonce());
	write_commit_record(records);
	/* The local commit record is the decision: it must be on disk before any COMMIT PREPARED. */
	ForceSyncCommit();
	xact_two_phase = true;
	xact_writers = writers;
	pg_atomic_fetch_add_u64(&pgdist_shared->two_phase_commits, 1);
}

static void
before_fdw_xact(XactEvent event)
{
	if (event == XACT_EVENT_ABORT && xact_two_phase)
	{
		/* Before postgres_fdw's abort cleanup, which may drop connections holding a prepared part. */
		resolve_prepared(false);
		xact_two_phase = false;
	}
	if (event == XACT_EVENT_PRE_COMMIT)
		decide();
}

/* While two-phase, a connection that wrote gets its commit, which becomes the PREPARE, and nothing else. */
static void
before_send(FdwConn *fc, const FdwCommand *command)
{
	if (!xact_two_phase || fc->state != REMOTE_XACT_WROTE || fdwconn_is_commit(command))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("pgdist: refusing to send %s to %s while this transaction commits in two phases",
					command->sql ? quote_literal_cstr(command->sql) : "the execution of a prepared statement",
					fdwconn_describe(fc)),
			 errdetail("The transaction wrote on several nodes, and each must be prepared in place of postgres_fdw's \"%s\" before any commits; this command could commit that node alone. Nothing was committed.",
					   fdwconn_commit_text()),
			 errhint("postgres_fdw must behave as fdw_contract.h says for this PostgreSQL major.")));
}

typedef struct PrepareCheck
{
	int			prepared;
	FdwConn    *unprepared;		/* the first writer that is not prepared */
} PrepareCheck;

static bool
check_prepared(FdwConn *fc, void *arg)
{
	PrepareCheck *check = (PrepareCheck *) arg;

	if (fc->state == REMOTE_XACT_PREPARED)
		check->prepared++;
	else if (fc->state == REMOTE_XACT_WROTE || fc->state == REMOTE_XACT_PREPARE_SENT ||
			 fc->state == REMOTE_XACT_PREPARE_FAILED)
	{
		if (check->unprepared == NULL)
			check->unprepared = fc;
		/* postgres_fdw is done with it, its transaction still open: cut it, so nothing of it commits later. */
		if (fc->state == REMOTE_XACT_WROTE && PQtransactionStatus(fc->conn) != PQTRANS_IDLE)
			shutdown(PQsocket(fc->conn), SHUT_RDWR);
	}
	return true;
}

/* After postgres_fdw's pre-commit: every writer prepared, or the commit fails while nothing has committed. */
static void
require_prepared(void)
{
	PrepareCheck check = {0, NULL};

	fdwconn_foreach(check_prepared, &check);
	if (check.unprepared != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("pgdist: %s wrote in this transaction and is not prepared", fdwconn_describe(check.unprepared)),
				 errdetail("Its remote transaction is %s; two-phase commit needs it prepared. Nothing was committed; the parts already prepared are rolled back.",
						   fdwconn_state_name(check.unprepared->state)),
				 errhint("postgres_fdw must behave as fdw_contract.h says for this PostgreSQL major.")));
	if (check.prepared < xact_writers)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("pgdist: %d of the %d remote transactions that wrote are prepared", check.prepared,
						xact_writers),
				 errdetail("A connection that wrote was closed before its commit. Nothing was committed; the parts already prepared are rolled back.")));
}

/* postgres_fdw commits a remote transaction that wrote: prepared instead, as gid, when two-phase. */
static bool
prepare_instead(FdwConn *fc, char *gid)
{
	if (!xact_two_phase)
		return false;
	snprintf(gid, PGDIST_GID_LEN, "%s_%u", xact_name, ++xact_prepared);
	return true;
}

/* Splits a gid of ours into its commit record's transaction name and its full xid. */
bool
pgdist_parse_gid(const char *gid, char *transaction, FullTransactionId *fxid)
{
	unsigned long long sysid;
	unsigned long long xid;
	unsigned long long nonce;
	unsigned int n;
	int			name_end = 0;
	int			used = 0;

	if (sscanf(gid, PGDIST_GID_PREFIX "%llu_%llu_%16llx%n_%u%n", &sysid, &xid, &nonce, &name_end, &n, &used) != 4 ||
		gid[used] != '\0' || name_end >= PGDIST_GID_LEN || sysid != (unsigned long long) GetSystemIdentifier())
		return false;
	memcpy(transaction, gid, name_end);
	transaction[name_end] = '\0';
	*fxid = FullTransactionIdFromU64(xid);
	return true;
}

typedef struct Resolution
{
	bool		commit;
	TimestampTz deadline;
	int			count;
	PGconn	   *conns[64];
	char		gids[64][PGDIST_GID_LEN];
} Resolution;

/*
 * After a failed PREPARE, postgres_fdw stops reading the other connections'
 * answers; before its abort cleanup drops those connections, read them, so
 * a PREPARE that did succeed can be rolled back right away.
 */
static void
drain(PGconn *conn, TimestampTz deadline)
{
	PGresult   *res;

	if (PQtransactionStatus(conn) != PQTRANS_ACTIVE || !pgdist_wait_result(conn, deadline, false))
		return;
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

static bool
send_resolution(FdwConn *fc, void *arg)
{
	Resolution *r = (Resolution *) arg;
	char		command[PGDIST_GID_LEN + 32];

	if (fc->state != REMOTE_XACT_PREPARE_SENT && fc->state != REMOTE_XACT_PREPARED)
		return true;
	if (!r->commit)
		drain(fc->conn, r->deadline);
	/* A PREPARE the node refused left nothing there. */
	if (fc->state != REMOTE_XACT_PREPARE_SENT && fc->state != REMOTE_XACT_PREPARED)
		return true;
	/* A connection left busy or broken is for recovery.c to finish. */
	if (PQstatus(fc->conn) != CONNECTION_OK || PQtransactionStatus(fc->conn) != PQTRANS_IDLE ||
		r->count >= lengthof(r->conns))
		return true;
	snprintf(command, sizeof(command), "%s PREPARED '%s'", r->commit ? "COMMIT" : "ROLLBACK", fc->gid);
	if (!fdwconn_send_own(fc, command))
		return true;
	r->conns[r->count] = fc->conn;
	strlcpy(r->gids[r->count], fc->gid, PGDIST_GID_LEN);
	r->count++;
	return true;
}

/*
 * Runs after the local commit or abort: no error may be raised, interrupts
 * are held. Whatever cannot be finished here stays prepared on its node and
 * is finished by recovery from the local outcome.
 */
static void
resolve_prepared(bool commit)
{
	Resolution	r;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), pgdist_commit_timeout);

	r.commit = commit;
	r.deadline = deadline;
	r.count = 0;
	fdwconn_foreach(send_resolution, &r);
	for (int i = 0; i < r.count; i++)
	{
		PGconn	   *conn = r.conns[i];
		PGresult   *res;

		if (!pgdist_wait_result(conn, deadline, false))
		{
			ereport(WARNING,
					(errmsg("pgdist: no answer from %s:%s to %s PREPARED '%s' within %d ms",
							PQhost(conn), PQport(conn), commit ? "COMMIT" : "ROLLBACK", r.gids[i],
							pgdist_commit_timeout),
					 errdetail("The transaction stays prepared there until pgdist's recovery finishes it.")));
			/* postgres_fdw finds the connection broken and opens a new one. */
			shutdown(PQsocket(conn), SHUT_RDWR);
			continue;
		}
		while ((res = PQgetResult(conn)) != NULL)
		{
			const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			/* 42704: already finished by recovery, or its PREPARE failed. */
			if (PQresultStatus(res) != PGRES_COMMAND_OK &&
				!(sqlstate != NULL && strcmp(sqlstate, "42704") == 0))
				ereport(WARNING,
						(errmsg("pgdist: %s PREPARED '%s' failed on %s:%s: %s",
								commit ? "COMMIT" : "ROLLBACK", r.gids[i], PQhost(conn), PQport(conn),
								PQresultErrorMessage(res)),
						 errdetail("The transaction stays prepared there until pgdist's recovery finishes it.")));
			PQclear(res);
		}
	}
}

/* After postgres_fdw's callback: its commit cleanup is done, the local commit is the decision. */
static void
after_fdw_xact(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (xact_two_phase)
				require_prepared();
			return;
		case XACT_EVENT_COMMIT:
			if (xact_two_phase)
				resolve_prepared(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return;
	}
	xact_two_phase = false;
}

static const FdwConnObserver observer = {
	.prepare_instead = prepare_instead,
	.before_send = before_send,
	.before_fdw_xact = before_fdw_xact,
	.after_fdw_xact = after_fdw_xact,
};

void
pgdist_twophase_init(void)
{
	fdwconn_observe(&observer);
}
