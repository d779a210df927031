/*
 * libpq_shim.c: pgdist between postgres_fdw and libpq.
 *
 * pgdist.so is loaded by shared_preload_libraries, with RTLD_GLOBAL, before
 * any backend loads postgres_fdw.so. The libpq functions defined here
 * therefore take the place of libpq's own for every library loaded later:
 * postgres_fdw's calls come here, and are passed on to libpq (looked up with
 * dlsym(RTLD_NEXT), whatever file libpq was loaded from) after we have looked
 * at them. Connections are recognised as
 * postgres_fdw's by the caller's address when they are opened; from then on
 * only the connections in fdw_conns are looked at, everything else (dblink,
 * logical replication, our own maintenance connections) passes straight
 * through.
 *
 * What we change, and only on postgres_fdw's connections:
 *   - application_name becomes pgdist:<system id>:<pid>:<backend start>, so
 *     a remote session can be mapped back to the coordinator backend that
 *     owns it (deadlock detection, orphaned sessions);
 *   - START TRANSACTION ISOLATION LEVEL REPEATABLE READ becomes READ
 *     COMMITTED when the local transaction is READ COMMITTED and may write
 *     (pgdist.read_committed);
 *   - COMMIT TRANSACTION becomes PREPARE TRANSACTION when twophase.c has
 *     decided on two-phase commit and this connection wrote;
 *   - the later batches of an INSERT are answered before the shard answers
 *     (async_insert.c): PQisBusy, PQgetResult, PQcmdTuples and PQclear know
 *     that answer, and every send first reads the real one.
 */
#include "pgdist.h"

#include <dlfcn.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "access/xlog.h"

typedef PGconn *(*ConnectParamsFn) (const char *const *keywords,
									const char *const *values, int expand_dbname);
typedef int (*SendQueryParamsFn) (PGconn *conn, const char *command, int nParams,
								  const Oid *paramTypes, const char *const *paramValues,
								  const int *paramLengths, const int *paramFormats,
								  int resultFormat);
typedef int (*SendPrepareFn) (PGconn *conn, const char *stmtName, const char *query,
							  int nParams, const Oid *paramTypes);
typedef int (*SendQueryPreparedFn) (PGconn *conn, const char *stmtName, int nParams,
									const char *const *paramValues, const int *paramLengths,
									const int *paramFormats, int resultFormat);

static ConnectParamsFn real_PQconnectdbParams;
static ConnectParamsFn real_PQconnectStartParams;
static void (*real_PQfinish) (PGconn *conn);
int			(*pgdist_real_PQsendQuery) (PGconn *conn, const char *query);
static SendQueryParamsFn real_PQsendQueryParams;
static SendPrepareFn real_PQsendPrepare;
static SendQueryPreparedFn real_PQsendQueryPrepared;
static int	(*real_PQisBusy) (PGconn *conn);
static PGresult *(*real_PQgetResult) (PGconn *conn);
static char *(*real_PQcmdTuples) (PGresult *res);
static void (*real_PQclear) (PGresult *res);

static HTAB *fdw_conns = NULL;
static void *postgres_fdw_base = NULL;
static bool early_callback_registered = false;

/* Set by the ExecutorStart hook when a statement of this transaction writes or locks rows. */
bool		pgdist_xact_writes = false;

/* libpq's own definition: the next one after ours in the lookup order (pgdist.so links libpq). */
static void *
real_symbol(const char *name)
{
	void	   *symbol = dlsym(RTLD_NEXT, name);

	if (symbol == NULL)
		elog(FATAL, "pgdist: libpq has no %s: %s", name, dlerror());
	return symbol;
}

/* True when address is in pgdist.so (compared with a static function, which nothing can interpose). */
static bool
defined_here(void *address)
{
	Dl_info		found;
	Dl_info		self;

	return address != NULL && dladdr(address, &found) && dladdr((void *) real_symbol, &self) &&
		found.dli_fbase == self.dli_fbase;
}

void
pgdist_shim_init(void)
{
	real_PQconnectdbParams = (ConnectParamsFn) real_symbol("PQconnectdbParams");
	real_PQconnectStartParams = (ConnectParamsFn) real_symbol("PQconnectStartParams");
	real_PQfinish = (void (*) (PGconn *)) real_symbol("PQfinish");
	pgdist_real_PQsendQuery = (int (*) (PGconn *, const char *)) real_symbol("PQsendQuery");
	real_PQsendQueryParams = (SendQueryParamsFn) real_symbol("PQsendQueryParams");
	real_PQsendPrepare = (SendPrepareFn) real_symbol("PQsendPrepare");
	real_PQsendQueryPrepared = (SendQueryPreparedFn) real_symbol("PQsendQueryPrepared");
	real_PQisBusy = (int (*) (PGconn *)) real_symbol("PQisBusy");
	real_PQgetResult = (PGresult * (*) (PGconn *)) real_symbol("PQgetResult");
	real_PQcmdTuples = (char *(*) (PGresult *)) real_symbol("PQcmdTuples");
	real_PQclear = (void (*) (PGresult *)) real_symbol("PQclear");

	/*
	 * Libraries loaded later bind to the first definition in the global
	 * scope: it must be ours, or postgres_fdw would commit without two-phase
	 * commit and nobody would know (a build without PGDIST_EXPORT, or libpq
	 * loaded globally by a library preloaded before pgdist).
	 */
	if (!defined_here(dlsym(RTLD_DEFAULT, "PQsendQuery")))
		elog(FATAL, "pgdist: its libpq functions are not the ones postgres_fdw would call");
}

/* True once a postgres_fdw connection has gone through the shim in this backend. */
bool
pgdist_shim_active(void)
{
	return postgres_fdw_base != NULL;
}

static bool
called_from_postgres_fdw(const void *return_address)
{
	Dl_info		info;
	const char *file;

	if (!dladdr(return_address, &info) || info.dli_fname == NULL)
		return false;
	if (postgres_fdw_base != NULL)
		return info.dli_fbase == postgres_fdw_base;
	file = strrchr(info.dli_fname, '/');
	file = file ? file + 1 : info.dli_fname;
	if (strncmp(file, "postgres_fdw.", strlen("postgres_fdw.")) != 0)
		return false;
	postgres_fdw_base = info.dli_fbase;
	return true;
}

static FdwConn *
find_conn(PGconn *conn)
{
	if (fdw_conns == NULL || conn == NULL)
		return NULL;
	return (FdwConn *) hash_search(fdw_conns, &conn, HASH_FIND, NULL);
}

/* A connection's state at the start of a local transaction. */
static bool
reset_conn(FdwConn *fc, void *arg)
{
	fc->in_xact = false;
	fc->wrote = false;
	fc->prepared = false;
	fc->gid[0] = '\0';
	fc->unread = NULL;
	return true;
}

static void
register_conn(PGconn *conn)
{
	FdwConn    *fc;
	bool		found;

	if (conn == NULL)
		return;
	if (fdw_conns == NULL)
		fdw_conns = pgdist_hash("pgdist postgres_fdw connections", 16, sizeof(PGconn *), sizeof(FdwConn),
								TopMemoryContext);
	fc = (FdwConn *) hash_search(fdw_conns, &conn, HASH_ENTER, &found);
	reset_conn(fc, NULL);

	/*
	 * postgres_fdw registered its transaction callback before opening its
	 * first connection. Registered now, ours runs before it at every event:
	 * the two-phase decision is made before postgres_fdw sends its COMMITs.
	 */
	if (!early_callback_registered)
	{
		RegisterXactCallback(pgdist_early_xact_callback, NULL);
		early_callback_registered = true;
	}
}

const char *
pgdist_application_name(void)
{
	static char name[NAMEDATALEN];

	if (name[0] == '\0')
		snprintf(name, sizeof(name), PGDIST_APPNAME_PREFIX "%llu:%d:%llx",
				 (unsigned long long) GetSystemIdentifier(), MyProcPid,
				 (unsigned long long) MyStartTimestamp);
	return name;
}

/* postgres_fdw's connection parameters with our application_name last (the last one wins). */
static void
with_application_name(const char *const *keywords, const char *const *values,
					  const char ***out_keywords, const char ***out_values)
{
	int			n = 0;
	const char **k;
	const char **v;

	while (keywords[n] != NULL)
		n++;
	k = (const char **) palloc((n + 2) * sizeof(char *));
	v = (const char **) palloc((n + 2) * sizeof(char *));
	memcpy(k, keywords, n * sizeof(char *));
	memcpy(v, values, n * sizeof(char *));
	k[n] = "application_name";
	v[n] = pgdist_application_name();
	k[n + 1] = v[n + 1] = NULL;
	*out_keywords = k;
	*out_values = v;
}

static PGconn *
connect_fdw(ConnectParamsFn real, const char *const *keywords, const char *const *values,
			int expand_dbname)
{
	const char **k;
	const char **v;
	PGconn	   *conn;

	with_application_name(keywords, values, &k, &v);
	conn = real(k, v, expand_dbname);
	pfree(k);
	pfree(v);
	register_conn(conn);
	return conn;
}

PGDIST_EXPORT PGconn *
PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	if (!called_from_postgres_fdw(__builtin_return_address(0)))
		return real_PQconnectdbParams(keywords, values, expand_dbname);
	return connect_fdw(real_PQconnectdbParams, keywords, values, expand_dbname);
}

/* PostgreSQL 17 and later connect through libpqsrv_connect_params(), inlined in postgres_fdw. */
PGDIST_EXPORT PGconn *
PQconnectStartParams(const char *const *keywords, const char *const *values, int expand_dbname)
{
	if (!called_from_postgres_fdw(__builtin_return_address(0)))
		return real_PQconnectStartParams(keywords, values, expand_dbname);
	return connect_fdw(real_PQconnectStartParams, keywords, values, expand_dbname);
}

PGDIST_EXPORT void
PQfinish(PGconn *conn)
{
	if (find_conn(conn) != NULL)
	{
		hash_search(fdw_conns, &conn, HASH_REMOVE, NULL);
		pgdist_async_deallocated(conn, NULL);
	}
	real_PQfinish(conn);
}

/* The statements postgres_fdw deparses for writes start with these words. */
static bool
is_write(const char *sql)
{
	return strncmp(sql, "INSERT INTO ", 12) == 0 ||
		strncmp(sql, "UPDATE ", 7) == 0 ||
		strncmp(sql, "DELETE FROM ", 12) == 0 ||
		strncmp(sql, "TRUNCATE ", 9) == 0;
}

#define START_PREFIX "START TRANSACTION ISOLATION LEVEL "

static bool
want_read_committed(void)
{
	/*
	 * A read-only statement outside a transaction block keeps postgres_fdw's
	 * REPEATABLE READ: one snapshot for all its scans of a shard, at no cost.
	 */
	return pgdist_read_committed && XactIsoLevel <= XACT_READ_COMMITTED &&
		(IsTransactionBlock() || pgdist_xact_writes);
}

static const char *
observe(FdwConn *fc, const char *sql)
{
	if (strncmp(sql, START_PREFIX, strlen(START_PREFIX)) == 0)
	{
		fc->in_xact = true;
		fc->wrote = false;
		fc->prepared = false;
		if (strcmp(sql + strlen(START_PREFIX), "REPEATABLE READ") == 0 && want_read_committed())
			return START_PREFIX "READ COMMITTED";
		return sql;
	}
	if (strcmp(sql, "COMMIT TRANSACTION") == 0)
		return pgdist_commit_rewrite(fc);
	if (is_write(sql))
		fc->wrote = true;
	return sql;
}

PGDIST_EXPORT int
PQsendQuery(PGconn *conn, const char *query)
{
	FdwConn    *fc = find_conn(conn);

	if (fc != NULL && query != NULL)
	{
		pgdist_async_read(fc);
		query = observe(fc, query);
		pgdist_async_deallocated(conn, query);
	}
	return pgdist_real_PQsendQuery(conn, query);
}

PGDIST_EXPORT int
PQsendQueryParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
				  const char *const *paramValues, const int *paramLengths,
				  const int *paramFormats, int resultFormat)
{
	FdwConn    *fc = find_conn(conn);

	if (fc != NULL)
		pgdist_async_read(fc);
	if (fc != NULL && command != NULL && is_write(command))
		fc->wrote = true;
	return real_PQsendQueryParams(conn, command, nParams, paramTypes, paramValues,
								  paramLengths, paramFormats, resultFormat);
}

PGDIST_EXPORT int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams,
			  const Oid *paramTypes)
{
	FdwConn    *fc = find_conn(conn);

	if (fc == NULL || query == NULL)
		return real_PQsendPrepare(conn, stmtName, query, nParams, paramTypes);
	pgdist_async_read(fc);
	if (is_write(query))
		fc->wrote = true;
	if (!real_PQsendPrepare(conn, stmtName, query, nParams, paramTypes))
		return 0;
	pgdist_async_prepared(conn, stmtName, query);
	return 1;
}

PGDIST_EXPORT int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
					const char *const *paramValues, const int *paramLengths,
					const int *paramFormats, int resultFormat)
{
	FdwConn    *fc = find_conn(conn);

	if (fc != NULL)
		pgdist_async_read(fc);
	if (!real_PQsendQueryPrepared(conn, stmtName, nParams, paramValues, paramLengths,
								  paramFormats, resultFormat))
		return 0;
	if (fc != NULL && resultFormat == 0)
		pgdist_async_executed(fc, stmtName);
	return 1;
}

/* The four below are where postgres_fdw reads an answer async_insert.c gave before the shard's. */
PGDIST_EXPORT int
PQisBusy(PGconn *conn)
{
	if (pgdist_async_answers(conn))
		return 0;
	return real_PQisBusy(conn);
}

PGDIST_EXPORT PGresult *
PQgetResult(PGconn *conn)
{
	PGresult   *res;

	if (pgdist_async_answers(conn))
		return pgdist_async_answer();
	res = real_PQgetResult(conn);
	pgdist_async_result(conn, res);
	return res;
}

PGDIST_EXPORT char *
PQcmdTuples(PGresult *res)
{
	if (pgdist_async_is_answer(res))
		return (char *) pgdist_async_answer_tuples();
	return real_PQcmdTuples(res);
}

/* The early answer is kept for the next batch: never freed, so its address is never another result's. */
PGDIST_EXPORT void
PQclear(PGresult *res)
{
	if (!pgdist_async_is_answer(res))
		real_PQclear(res);
}

void
pgdist_foreach_conn(FdwConnVisitor visitor, void *arg)
{
	HASH_SEQ_STATUS scan;
	FdwConn    *fc;

	if (fdw_conns == NULL)
		return;
	hash_seq_init(&scan, fdw_conns);
	while ((fc = (FdwConn *) hash_seq_search(&scan)) != NULL)
	{
		if (!visitor(fc, arg))
		{
			hash_seq_term(&scan);
			return;
		}
	}
}

void
pgdist_reset_conns(void)
{
	pgdist_foreach_conn(reset_conn, NULL);
	pgdist_async_deallocated(NULL, NULL);
	pgdist_xact_writes = false;
}
