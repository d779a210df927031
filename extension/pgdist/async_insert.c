/*
 * async_insert.c: postgres_fdw's INSERTs without waiting for each one.
 *
 * postgres_fdw sends a batch (or, with batch_size 1, a row) of an INSERT and
 * waits for the shard's answer before it routes the next rows, so the
 * coordinator and the shards never work at the same time: a bulk load takes
 * the coordinator's time plus the shards'. With pgdist.async_insert, the
 * second and later executions of one of its prepared INSERTs are answered at
 * once with the row count the statement must have (the rows of its VALUES
 * list), and the shard's real answer is read before anything else is sent on
 * that connection: the next batch, the DEALLOCATE at the end of the statement,
 * a COMMIT. So a failing batch still fails its statement, before the client
 * hears of success, and never a later one of another table.
 *
 * Only INSERTs with a plain VALUES list qualify (no RETURNING, no ON
 * CONFLICT): their answer carries nothing but the count. The first
 * execution of each statement is waited for as usual, and a count different
 * from the VALUES rows (a shard trigger or rule skipping rows) keeps that
 * statement synchronous; a later batch answering another count fails the
 * statement rather than report rows that are not there.
 *
 * The early answer itself is given by the connection layer
 * (fdwconn_answer_early); this file decides when, and reads the real one.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "async_insert.h"
#include "fdwconn.h"
#include "remote.h"
#include "settings.h"
#include "util.h"

typedef struct InsertStatementKey
{
	PGconn	   *conn;
	char		name[NAMEDATALEN];
} InsertStatementKey;

typedef struct InsertStatement
{
	InsertStatementKey key;
	int			rows;			/* rows of its VALUES list; 0: always wait */
	int			executions;
	char	   *query;			/* for the error context */
} InsertStatement;

/* A connection whose last batch was answered early: its real answer is still to be read. */
typedef struct Unread
{
	PGconn	   *conn;			/* key */
	InsertStatement *statement;
} Unread;

static HTAB *statements = NULL;
static HTAB *unread = NULL;

/* The statement whose first execution's count is being checked. */
static InsertStatement *checked = NULL;

/*
 * Rows of the VALUES list of an INSERT as postgres_fdw deparses it
 * ("INSERT INTO rel(cols) VALUES ($1, $2), ($3, DEFAULT)"), 0 for anything
 * else: after VALUES only parameters, DEFAULT and punctuation may follow.
 */
static int
values_rows(const char *sql)
{
	bool		quoted = false;
	bool		in_values = false;
	int			rows = 0;
	const char *p;

	if (strncmp(sql, "INSERT INTO ", strlen("INSERT INTO ")) != 0)
		return 0;
	for (p = sql; *p != '\0'; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (!in_values)
		{
			if (strncmp(p, " VALUES (", strlen(" VALUES (")) == 0)
			{
				in_values = true;
				p += strlen(" VALUES ") - 1;
			}
		}
		else if (*p == '(')
			rows++;
		else if (strncmp(p, "DEFAULT", strlen("DEFAULT")) == 0)
			p += strlen("DEFAULT") - 1;
		else if (isalpha((unsigned char) *p))
			return 0;
	}
	return rows;
}

static InsertStatement *
find_statement(PGconn *conn, const char *name, HASHACTION action, bool *found)
{
	InsertStatementKey key;

	if (statements == NULL)
	{
		if (action == HASH_FIND)
			return NULL;
		statements = pgdist_hash("pgdist postgres_fdw inserts", 16, sizeof(InsertStatementKey),
								 sizeof(InsertStatement), TopMemoryContext);
		unread = pgdist_hash("pgdist unread batches", 16, sizeof(PGconn *), sizeof(Unread),
							 TopMemoryContext);
	}
	if (name == NULL || strlen(name) >= NAMEDATALEN)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.conn = conn;
	strcpy(key.name, name);
	return (InsertStatement *) hash_search(statements, &key, action, found);
}

static void
forget_statement(InsertStatement *st)
{
	if (st == checked)
		checked = NULL;
	pfree(st->query);
	hash_search(statements, &st->key, HASH_REMOVE, NULL);
}

/* Every statement of conn, or of every connection (conn NULL), with its unread batch. */
static void
forget_statements(PGconn *conn)
{
	HASH_SEQ_STATUS scan;
	InsertStatement *st;

	if (statements == NULL)
		return;
	if (conn == NULL)
	{
		Unread	   *u;

		hash_seq_init(&scan, unread);
		while ((u = (Unread *) hash_seq_search(&scan)) != NULL)
			hash_search(unread, &u->conn, HASH_REMOVE, NULL);
	}
	else
		hash_search(unread, &conn, HASH_REMOVE, NULL);
	hash_seq_init(&scan, statements);
	while ((st = (InsertStatement *) hash_seq_search(&scan)) != NULL)
		if (conn == NULL || st->key.conn == conn)
			forget_statement(st);
}

/* postgres_fdw prepares a statement: remember the INSERTs that may run without waiting. */
static void
prepared(PGconn *conn, const char *name, const char *query)
{
	int			rows = values_rows(query);
	InsertStatement *st;
	bool		found;

	if (rows == 0 || (st = find_statement(conn, name, HASH_ENTER, &found)) == NULL)
		return;
	if (found)
		pfree(st->query);
	st->rows = rows;
	st->executions = 0;
	st->query = MemoryContextStrdup(TopMemoryContext, query);
}

/* Statements of fc's connection deallocated by sql ("DEALLOCATE name" or "DEALLOCATE ALL"). */
static void
deallocated(FdwConn *fc, const char *sql)
{
	const char *name = sql + strlen("DEALLOCATE ");
	InsertStatement *st;

	if (strcmp(name, "ALL") != 0)
	{
		if ((st = find_statement(fc->conn, name, HASH_FIND, NULL)) != NULL)
			forget_statement(st);
		return;
	}
	fdwconn_end_early_answer(fc);
	forget_statements(fc->conn);
}

/*
 * postgres_fdw executed a prepared statement on fc's connection: from its
 * second execution on, an INSERT's answer is given at once by the connection
 * layer and the real one is left to read_unread.
 */
static void
executed(FdwConn *fc, const char *name)
{
	InsertStatement *st;
	Unread	   *u;

	if (!pgdist_async_insert || (st = find_statement(fc->conn, name, HASH_FIND, NULL)) == NULL ||
		st->rows == 0)
		return;
	if (st->executions++ == 0)
	{
		checked = st;
		return;
	}
	if (!fdwconn_answer_early(fc, st->rows))
		return;
	u = (Unread *) hash_search(unread, &fc->conn, HASH_ENTER, NULL);
	u->statement = st;
}

static void
on_sent(FdwConn *fc, const FdwCommand *command)
{
	if (command->kind == SEND_PREPARE)
		prepared(fc->conn, command->statement, command->sql);
	else if (command->kind == SEND_QUERY && strncmp(command->sql, "DEALLOCATE ", strlen("DEALLOCATE ")) == 0)
		deallocated(fc, command->sql);
	else if (command->kind == SEND_EXECUTE && command->result_format == 0)
		executed(fc, command->statement);
}

/* A real result of fc's connection: while a statement's first execution is checked, a count other than its rows keeps it waiting. */
static void
on_result(FdwConn *fc, PGresult *res)
{
	if (checked == NULL || fc->conn != checked->key.conn)
		return;
	if (res == NULL)
		checked = NULL;
	else if (PQresultStatus(res) == PGRES_COMMAND_OK && atoi(PQcmdTuples(res)) != checked->rows)
		checked->rows = 0;
}

static void
report_unread(PGresult *res, PGconn *conn, InsertStatement *st)
{
	char	   *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char	   *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char	   *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	char	   *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	char	   *context = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *message;
	char	   *query = pstrdup(st->query);

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
	message = primary ? pstrdup(primary) : pgdist_result_error(res, conn);
	detail = detail ? pstrdup(detail) : NULL;
	hint = hint ? pstrdup(hint) : NULL;
	context = context ? pstrdup(context) : NULL;
	PQclear(res);
	ereport(ERROR,
			(errcode(code), errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 context ? errcontext("%s", context) : 0,
			 errcontext("remote SQL command: %s", query)));
}

/*
 * Reads the real answer of the batch last sent on fc's connection without
 * waiting, before anything else is sent there. A failed batch fails the
 * statement (or the commit) that comes next; while the transaction aborts
 * the answer is only read away, for postgres_fdw's cleanup to find the
 * connection idle.
 */
static void
read_unread(FdwConn *fc)
{
	Unread	   *u = unread ? (Unread *) hash_search(unread, &fc->conn, HASH_FIND, NULL) : NULL;
	InsertStatement *st;
	bool		aborting = !IsTransactionState();
	PGresult   *last = NULL;
	PGresult   *res;
	int			count;

	if (u == NULL)
		return;
	st = u->statement;
	hash_search(unread, &fc->conn, HASH_REMOVE, NULL);
	fdwconn_end_early_answer(fc);
	if (!pgdist_wait_result(fc->conn, aborting ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 30000)
							: DT_NOEND, !aborting))
		return;					/* aborting and no answer: postgres_fdw's cleanup finds it busy */
	while ((res = PQgetResult(fc->conn)) != NULL)
	{
		PQclear(last);
		last = res;
	}
	if (aborting)
	{
		PQclear(last);
		return;
	}
	if (last == NULL || PQresultStatus(last) != PGRES_COMMAND_OK)
		report_unread(last, fc->conn, st);
	count = atoi(PQcmdTuples(last));
	PQclear(last);
	if (count != st->rows)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("pgdist: a foreign server inserted %d of the %d rows of a batch", count, st->rows),
				 errdetail("The batch had been counted as inserted while its answer was pending; its statement fails instead."),
				 errhint("Set pgdist.async_insert to off for tables whose remote side skips rows (triggers, rules)."),
				 errcontext("remote SQL command: %s", st->query)));
}

static void
before_send(FdwConn *fc, const FdwCommand *command)
{
	read_unread(fc);
}

static bool
read_one(FdwConn *fc, void *arg)
{
	read_unread(fc);
	return true;
}

static void
on_finish(FdwConn *fc)
{
	forget_statements(fc->conn);
}

/* At pre-commit every pending answer is read, before the commit is decided. */
static void
before_fdw_xact(XactEvent event)
{
	if (event == XACT_EVENT_PRE_COMMIT)
		fdwconn_foreach(read_one, NULL);
}

static void
after_fdw_xact(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		forget_statements(NULL);
}

static const FdwConnObserver observer = {
	.before_send = before_send,
	.on_sent = on_sent,
	.on_result = on_result,
	.on_finish = on_finish,
	.before_fdw_xact = before_fdw_xact,
	.after_fdw_xact = after_fdw_xact,
};

void
pgdist_async_insert_init(void)
{
	fdwconn_observe(&observer);
}
