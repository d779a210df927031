/*
 * fold.c: several of postgres_fdw's commands in one message.
 *
 * postgres_fdw waits for an answer to every command: a point read outside a
 * transaction block is START TRANSACTION, DECLARE, FETCH, CLOSE and COMMIT,
 * five round trips where the shard's work is one index lookup. Three of
 * them are commands whose only answer postgres_fdw looks at is "command
 * OK": START TRANSACTION, a DECLARE without parameters (the cursor's query
 * runs at the first FETCH) and CLOSE. This file answers them at once and
 * keeps them; the commands kept go ahead of postgres_fdw's next command on
 * that connection, in one simple-protocol message, in the order
 * postgres_fdw sent them, so the node runs exactly what it ran before. The
 * answers to the commands kept are read away; an error among them is
 * handed to postgres_fdw in place of its own command's answer, so the
 * statement fails with the node's error (SQLSTATE, message) as before.
 *
 *   - A START kept when the remote transaction ends unused (COMMIT or ABORT
 *     TRANSACTION): that end is answered here too, nothing is sent.
 *   - CLOSE and DECLARE kept at the end of a transaction or a ROLLBACK TO
 *     SAVEPOINT are dropped: the node closes those cursors itself.
 *   - A command that cannot travel in a simple-protocol message (parameters,
 *     a prepared statement) sends a START or DECLARE kept first, alone, and
 *     waits for it: today's round trip, no more.
 *   - A START is sent at once when the idle connection has something to
 *     read (the node ended the session): postgres_fdw's reconnection at the
 *     start of a transaction keeps working.
 *
 * A lone read (the statement is its transaction's only use of the node:
 * router.c decides) sends its remote transaction whole: START, DECLARE, its
 * first FETCH and COMMIT in one message. When that FETCH brings fewer rows
 * than it asked for, the cursor was read to its end, as postgres_fdw sees
 * too: its CLOSE and COMMIT are answered here. When it brings as many
 * (there may be more), its rows are dropped and the same START, DECLARE and
 * FETCH are sent again without the COMMIT, and the scan goes on as without
 * folding. Any other command postgres_fdw sends on that connection in the
 * same local transaction starts a new remote transaction first, with the
 * same START.
 *
 * Waiting stays postgres_fdw's: PQisBusy reports a folded message busy until
 * all its answers are in (reading without blocking), PQgetResult then hands
 * what postgres_fdw asked for.
 */
#include "postgres.h"

#include <poll.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "fdw_contract.h"
#include "fold.h"
#include "shared.h"
#include "util.h"

static int	(*real_PQsendQuery) (PGconn *conn, const char *query);
static int	(*real_PQisBusy) (PGconn *conn);
static PGresult *(*real_PQgetResult) (PGconn *conn);
static void (*real_PQclear) (PGresult *res);

static const char SEPARATOR[] = "; ";

void
fold_init(void)
{
	real_PQsendQuery = (int (*) (PGconn *, const char *)) pgdist_libpq_symbol("PQsendQuery");
	real_PQisBusy = (int (*) (PGconn *)) pgdist_libpq_symbol("PQisBusy");
	real_PQgetResult = (PGresult * (*) (PGconn *)) pgdist_libpq_symbol("PQgetResult");
	real_PQclear = (void (*) (PGresult *)) pgdist_libpq_symbol("PQclear");
}

static bool
starts_with(const char *sql, const char *prefix)
{
	return sql != NULL && strncmp(sql, prefix, strlen(prefix)) == 0;
}

/* "FETCH <n> FROM c<N>": n, and the cursor's name */
static bool
parse_fetch(const char *sql, int *rows, char *cursor, size_t size)
{
	unsigned int number;
	int			end = 0;

	if (sql == NULL || sscanf(sql, FDW_FETCH_FORMAT "%n", rows, &number, &end) != 2 || sql[end] != '\0' ||
		*rows <= 0)
		return false;
	snprintf(cursor, size, "c%u", number);
	return true;
}

/* Does the queue's DECLARE (its second command, after the START) open cursor? */
static bool
queue_declares(const FoldState *fs, const char *cursor)
{
	const char *declare = strstr(fs->queue, SEPARATOR);
	char		prefix[32];

	if (declare == NULL)
		return false;
	snprintf(prefix, sizeof(prefix), "DECLARE %s CURSOR FOR\n", cursor);
	return starts_with(declare + strlen(SEPARATOR), prefix);
}

/*
 * Keeps sql, which answers statements results (a START that imports a
 * snapshot is two: snapshot.c).
 */
static void
queue_append(FoldState *fs, const char *sql, int statements)
{
	int			needed = fs->queue_len + strlen(sql) + sizeof(SEPARATOR);

	if (fs->queue == NULL)
	{
		fs->queue_size = Max(1024, needed);
		fs->queue = MemoryContextAlloc(TopMemoryContext, fs->queue_size);
	}
	else if (needed > fs->queue_size)
	{
		fs->queue_size = Max(needed, 2 * fs->queue_size);
		fs->queue = repalloc(fs->queue, fs->queue_size);
	}
	memcpy(fs->queue + fs->queue_len, sql, strlen(sql));
	fs->queue_len += strlen(sql);
	memcpy(fs->queue + fs->queue_len, SEPARATOR, sizeof(SEPARATOR));	/* with its '\0' */
	fs->queue_len += strlen(SEPARATOR);
	fs->queued += statements;
}

/* The statements of a START (ours, without literals that could hold a separator). */
static int
start_statements(const char *start)
{
	int			n = 1;

	for (const char *p = strstr(start, SEPARATOR); p != NULL; p = strstr(p + 1, SEPARATOR))
		n++;
	return n;
}

static void
queue_clear(FoldState *fs)
{
	fs->queue_len = 0;
	if (fs->queue != NULL)
		fs->queue[0] = '\0';
	fs->queued = 0;
	fs->start_queued = false;
	fs->declare_queued = false;
}

/* The queue, then sql (and suffix), as one text in the current memory context. */
static char *
message(const FoldState *fs, const char *sql, const char *suffix)
{
	return psprintf("%s%s%s", fs->queue_len > 0 ? fs->queue : "", sql, suffix ? suffix : "");
}

static void
drop_results(FoldState *fs)
{
	for (int i = 0; i < fs->count; i++)
		if (fs->results[i] != NULL)
			real_PQclear(fs->results[i]);
	fs->count = 0;
	for (int i = fs->next_hand; i < fs->nhand; i++)
		real_PQclear(fs->hand[i]);
	fs->nhand = fs->next_hand = 0;
	fs->phase = FOLD_IDLE;
}

/* The connection's state at the end of a remote transaction (or of the connection). */
void
fold_reset(FoldState *fs)
{
	drop_results(fs);
	queue_clear(fs);
	fs->alone_done = false;
	fs->alone_rows = 0;
	pgdist_free_text(&fs->start);
	pgdist_free_text(&fs->redo);
}

bool
fold_active(const FoldState *fs)
{
	return fs->phase != FOLD_IDLE;
}

void
fold_count_message(void)
{
	pg_atomic_fetch_add_u64(&pgdist_shared->remote_messages, 1);
}

/* The next PQgetResult hands a result of status, then the end of them. */
static void
answer(PGconn *conn, FoldState *fs, ExecStatusType status)
{
	fs->hand[0] = PQmakeEmptyPGresult(conn, status);
	fs->nhand = fs->hand[0] != NULL ? 1 : 0;
	fs->next_hand = 0;
	fs->phase = FOLD_HANDING;
}

/* Sends text (its commands' answers before the target's are read away); the queue goes with it. */
static FoldOutcome
send_folded(PGconn *conn, FoldState *fs, const char *text, int target)
{
	queue_clear(fs);
	fold_count_message();
	if (!real_PQsendQuery(conn, text))
	{
		fs->alone_rows = 0;
		pgdist_free_text(&fs->redo);
		return FOLD_SEND_FAILED;
	}
	fs->phase = FOLD_COLLECTING;
	fs->target = target;
	fs->count = 0;
	return FOLD_SENT;
}

/*
 * All the answers of a folded message are in: choose what postgres_fdw is
 * handed. The first error wins when it answers a command kept (nothing after
 * it ran); an error after the target (a lone read's COMMIT) is handed after
 * the target's answer, and postgres_fdw reports the last one.
 */
static void
finish(PGconn *conn, FoldState *fs)
{
	int			error = -1;

	for (int i = 0; i < fs->count && error < 0; i++)
	{
		ExecStatusType status = PQresultStatus(fs->results[i]);

		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
			error = i;
	}
	if (fs->alone_rows > 0)
	{
		int			asked = fs->alone_rows;

		fs->alone_rows = 0;
		if (error < 0 && fs->target < fs->count && PQntuples(fs->results[fs->target]) >= asked &&
			fs->redo != NULL)
		{
			/* There may be more rows than came: the scan runs in a remote transaction after all. */
			char	   *redo = fs->redo;

			fs->redo = NULL;
			drop_results(fs);
			pg_atomic_fetch_add_u64(&pgdist_shared->lone_retries, 1);
			fold_count_message();
			if (real_PQsendQuery(conn, redo))
			{
				fs->phase = FOLD_COLLECTING;
				fs->target = fs->redo_target;
				pfree(redo);
				return;
			}
			pfree(redo);
			answer(conn, fs, PGRES_FATAL_ERROR);
			return;
		}
		pgdist_free_text(&fs->redo);
		if (error < 0 && PQtransactionStatus(conn) == PQTRANS_IDLE)
		{
			fs->alone_done = true;
			pg_atomic_fetch_add_u64(&pgdist_shared->lone_reads, 1);
		}
	}
	fs->nhand = fs->next_hand = 0;
	if (error >= 0 && (fs->target < 0 || error <= fs->target))
		fs->hand[fs->nhand++] = fs->results[error];
	else
	{
		if (fs->target >= 0 && fs->target < fs->count)
			fs->hand[fs->nhand++] = fs->results[fs->target];
		if (error > fs->target)
			fs->hand[fs->nhand++] = fs->results[error];
	}
	for (int i = 0; i < fs->count; i++)
	{
		bool		handed = false;

		for (int j = 0; j < fs->nhand; j++)
			handed |= fs->hand[j] == fs->results[i];
		if (!handed)
			real_PQclear(fs->results[i]);
	}
	fs->count = 0;
	fs->phase = FOLD_HANDING;
	/* Fewer answers than commands (cannot happen): an error, never a command taken for done. */
	if (fs->nhand == 0 && fs->target >= 0)
		answer(conn, fs, PGRES_FATAL_ERROR);
}

/* Reads the answers of the folded message in flight; without wait, only what has come. */
static void
collect(PGconn *conn, FoldState *fs, bool wait)
{
	while (fs->phase == FOLD_COLLECTING)
	{
		PGresult   *res;

		if (!wait && real_PQisBusy(conn))
			return;
		res = real_PQgetResult(conn);
		if (res == NULL)
			finish(conn, fs);
		else if (fs->count < FOLD_MAX_RESULTS)
			fs->results[fs->count++] = res;
		else
			real_PQclear(res);
	}
}

int
fold_is_busy(PGconn *conn, FoldState *fs)
{
	collect(conn, fs, false);
	return fs->phase == FOLD_COLLECTING;
}

PGresult *
fold_get_result(PGconn *conn, FoldState *fs)
{
	collect(conn, fs, true);
	if (fs->next_hand < fs->nhand)
		return fs->hand[fs->next_hand++];
	fs->nhand = fs->next_hand = 0;
	fs->phase = FOLD_IDLE;
	return NULL;
}

static void
report(PGresult *res, PGconn *conn, const char *sql)
{
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *message = pstrdup(primary ? primary : PQerrorMessage(conn));
	char	   *detail_copy = detail ? pstrdup(detail) : NULL;
	char	   *hint_copy = hint ? pstrdup(hint) : NULL;

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
	real_PQclear(res);
	ereport(ERROR,
			(errcode(code), errmsg_internal("%s", message),
			 detail_copy ? errdetail_internal("%s", detail_copy) : 0,
			 hint_copy ? errhint("%s", hint_copy) : 0,
			 errcontext("remote SQL command: %s", sql)));
}

/*
 * Sends the commands kept, alone, and waits for their answers (a command
 * that cannot go with them is next); an error among them fails the
 * statement, as it would have when they were sent.
 */
static void
flush(PGconn *conn, FoldState *fs)
{
	char	   *text = pstrdup(fs->queue);
	PGresult   *error;

	text[strlen(text) - strlen(SEPARATOR)] = '\0';
	if (send_folded(conn, fs, text, -1) != FOLD_SENT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg_internal("%s", PQerrorMessage(conn)),
				 errcontext("remote SQL command: %s", text)));
	for (;;)
	{
		collect(conn, fs, false);
		if (fs->phase != FOLD_COLLECTING)
			break;
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
								 PQsocket(conn), -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (!PQconsumeInput(conn) && PQstatus(conn) == CONNECTION_BAD)
			collect(conn, fs, true);
	}
	error = fs->nhand > 0 ? fs->hand[0] : NULL;
	fs->nhand = fs->next_hand = 0;
	fs->phase = FOLD_IDLE;
	if (error != NULL)
		report(error, conn, text);
	pfree(text);
}

/* Nothing waits to be read on the idle connection (a node that ended the session has sent its last words). */
static bool
peer_quiet(PGconn *conn)
{
	struct pollfd fd = {PQsocket(conn), POLLIN | POLLRDHUP, 0};

	return fd.fd >= 0 && poll(&fd, 1, 0) == 0;
}

/* A command answered here and sent with the next one: START, a DECLARE without parameters, CLOSE. */
static bool
deferrable(const FoldCommand *command)
{
	return command->simple && command->may_defer &&
		(starts_with(command->original, FDW_START_PREFIX) ||
		 starts_with(command->original, "DECLARE c") || starts_with(command->original, "CLOSE c"));
}

static bool
ends_transaction(const char *sql)
{
	return sql != NULL && (strcmp(sql, FDW_COMMIT) == 0 || strcmp(sql, FDW_ABORT) == 0);
}

/* May sql be the FETCH of a lone read: START and DECLARE of its cursor kept, nothing else? */
bool
fold_lone_candidate(FoldState *fs, const char *sql)
{
	char		cursor[16];
	int			rows;

	return fs->phase == FOLD_IDLE && fs->start_queued && fs->declare_queued && fs->queued == 2 &&
		!starts_with(fs->queue, FDW_START_SERIALIZABLE) &&
		parse_fetch(sql, &rows, cursor, sizeof(cursor)) && queue_declares(fs, cursor);
}

/* A lone read: its remote transaction whole, and the same without COMMIT should its rows not all come. */
static FoldOutcome
send_alone(PGconn *conn, FoldState *fs, const char *sql)
{
	char		cursor[16];
	int			rows;
	char	   *text = message(fs, sql, "; " FDW_COMMIT);

	(void) parse_fetch(sql, &rows, cursor, sizeof(cursor));
	pgdist_free_text(&fs->redo);
	fs->redo = MemoryContextStrdup(TopMemoryContext, text);
	fs->redo[strlen(text) - strlen("; " FDW_COMMIT)] = '\0';
	fs->redo_target = fs->queued;
	fs->alone_rows = rows;
	return send_folded(conn, fs, text, fs->queued);
}

FoldOutcome
fold_command(PGconn *conn, FoldState *fs, const FoldCommand *command)
{
	const char *original = command->original;

	if (fs->phase == FOLD_HANDING)
		drop_results(fs);		/* answers postgres_fdw did not read: abandoned, as libpq would */
	if (fs->phase != FOLD_IDLE)
		return FOLD_PASS;		/* libpq refuses a second command in flight, as it did */

	if (fs->alone_done)
	{
		/* The lone read's remote transaction is over; postgres_fdw ends it, or closes its cursor. */
		if (ends_transaction(original) || starts_with(original, "CLOSE c"))
		{
			if (ends_transaction(original))
				fold_reset(fs);
			answer(conn, fs, PGRES_COMMAND_OK);
			return FOLD_ANSWERED;
		}
		/* Anything else needs a remote transaction again: the same START goes first. */
		fs->alone_done = false;
		queue_append(fs, fs->start, start_statements(fs->start));
		fs->start_queued = true;
	}

	if (ends_transaction(original))
	{
		bool		unstarted = fs->start_queued;

		fold_reset(fs);
		if (!unstarted)
			return FOLD_PASS;
		answer(conn, fs, PGRES_COMMAND_OK);
		return FOLD_ANSWERED;
	}
	if (starts_with(original, "ROLLBACK TO SAVEPOINT ") && !fs->start_queued)
	{
		queue_clear(fs);		/* a CLOSE or DECLARE kept: the cursors of the transaction close at its end */
		return FOLD_PASS;
	}

	if (deferrable(command) && fs->queued < FOLD_MAX_QUEUED &&
		!(starts_with(original, FDW_START_PREFIX) && !peer_quiet(conn)))
	{
		if (starts_with(original, FDW_START_PREFIX))
		{
			queue_clear(fs);
			pgdist_free_text(&fs->start);
			fs->start = MemoryContextStrdup(TopMemoryContext, command->sql);
			fs->start_queued = true;
		}
		else if (starts_with(original, "DECLARE c"))
			fs->declare_queued = true;
		queue_append(fs, command->sql,
					 starts_with(original, FDW_START_PREFIX) ? start_statements(command->sql) : 1);
		pg_atomic_fetch_add_u64(&pgdist_shared->folded_commands, 1);
		answer(conn, fs, PGRES_COMMAND_OK);
		return FOLD_ANSWERED;
	}

	if (fs->queued == 0)
		return FOLD_PASS;
	if (command->simple)
	{
		if (command->alone && fold_lone_candidate(fs, command->sql))
			return send_alone(conn, fs, command->sql);
		return send_folded(conn, fs, message(fs, command->sql, NULL), fs->queued);
	}
	/* A command with parameters: what it depends on (its remote transaction, a cursor) goes first. */
	if (fs->start_queued || fs->declare_queued)
		flush(conn, fs);
	return FOLD_PASS;
}
