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
 */
#include "pgdist.h"

#include <ctype.h>

#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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

static HTAB *statements = NULL;

/* The answer handed to postgres_fdw for a batch whose real answer is read later. */
static PGresult *early_result = NULL;
static char early_tuples[16];
static PGconn *early_conn = NULL;	/* its connection, until postgres_fdw has read it */
static bool early_given = false;

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

/* postgres_fdw prepares a statement: remember the INSERTs that may run without waiting. */
void
pgdist_async_prepared(PGconn *conn, const char *name, const char *query)
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

/* Statements of conn deallocated by sql ("DEALLOCATE name" or "DEALLOCATE ALL"), or all of them (sql NULL). */
void
pgdist_async_deallocated(PGconn *conn, const char *sql)
{
	HASH_SEQ_STATUS scan;
	InsertStatement *st;
	const char *name = NULL;

	if (statements == NULL)
		return;
	if (sql != NULL)
	{
		if (strncmp(sql, "DEALLOCATE ", strlen("DEALLOCATE ")) != 0)
			return;
		name = sql + strlen("DEALLOCATE ");
		if (strcmp(name, "ALL") != 0)
		{
			if ((st = find_statement(conn, name, HASH_FIND, NULL)) != NULL)
				forget_statement(st);
			return;
		}
	}
	if (conn == NULL || conn == early_conn)
		early_conn = NULL;
	hash_seq_init(&scan, statements);
	while ((st = (InsertStatement *) hash_seq_search(&scan)) != NULL)
		if (conn == NULL || st->key.conn == conn)
			forget_statement(st);
}

/*
 * postgres_fdw executed a prepared statement on fc's connection: from its
 * second execution on, an INSERT's answer is given at once (PQisBusy and
 * PQgetResult below) and the real one is left to pgdist_async_read.
 */
void
pgdist_async_executed(FdwConn *fc, const char *name)
{
	InsertStatement *st;

	if (!pgdist_async_insert || (st = find_statement(fc->conn, name, HASH_FIND, NULL)) == NULL ||
		st->rows == 0)
		return;
	if (st->executions++ == 0)
	{
		checked = st;
		return;
	}
	if (early_result == NULL)
		early_result = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
	if (early_result == NULL)
		return;					/* out of memory: postgres_fdw waits as usual */
	snprintf(early_tuples, sizeof(early_tuples), "%d", st->rows);
	early_conn = fc->conn;
	early_given = false;
	fc->unread = st;
}

bool
pgdist_async_answers(PGconn *conn)
{
	return conn == early_conn && conn != NULL;
}

/* PQgetResult for a connection pgdist_async_answers: the count, then the end of the results. */
PGresult *
pgdist_async_answer(void)
{
	if (!early_given)
	{
		early_given = true;
		return early_result;
	}
	early_conn = NULL;
	return NULL;
}

bool
pgdist_async_is_answer(const PGresult *res)
{
	return res == early_result && res != NULL;
}

const char *
pgdist_async_answer_tuples(void)
{
	return early_tuples;
}

/* A real result of conn: while a statement's first execution is checked, a count other than its rows keeps it waiting. */
void
pgdist_async_result(PGconn *conn, PGresult *res)
{
	if (checked == NULL || conn != checked->key.conn)
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
void
pgdist_async_read(FdwConn *fc)
{
	InsertStatement *st = fc->unread;
	bool		aborting = !IsTransactionState();
	PGresult   *last = NULL;
	PGresult   *res;
	int			count;

	if (st == NULL)
		return;
	fc->unread = NULL;
	if (fc->conn == early_conn)
		early_conn = NULL;
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

static bool
read_one(FdwConn *fc, void *arg)
{
	pgdist_async_read(fc);
	return true;
}

/* At pre-commit: every pending answer is read before the commit is decided. */
void
pgdist_async_read_all(void)
{
	pgdist_foreach_conn(read_one, NULL);
}
