/*
 * fdwconn.c: the connection layer, pgdist between postgres_fdw and libpq.
 *
 * pgdist.so is loaded by shared_preload_libraries, with RTLD_GLOBAL, before
 * any backend loads postgres_fdw.so. The libpq functions defined here
 * therefore take the place of libpq's own for every library loaded later:
 * postgres_fdw's calls come here, and are passed on to libpq (looked up with
 * dlsym(RTLD_NEXT), whatever file libpq was loaded from) after the layer has
 * looked at them. Connections are recognised as postgres_fdw's by the
 * caller's address when they are opened; from then on only the connections
 * in fdw_conns are looked at, everything else (dblink, logical replication,
 * pgdist's own maintenance connections) passes straight through.
 *
 * On postgres_fdw's connections the layer
 *   - sets application_name to the backend's session name (appname.c), so a
 *     remote session can be mapped back to the coordinator backend that owns
 *     it (deadlock detection, orphaned sessions);
 *   - keeps the state of each remote transaction (fdwconn.h) from the
 *     commands postgres_fdw sends and the results it reads;
 *   - calls the features' observers where they may change a command (START,
 *     COMMIT), read what is pending, or answer early (async insert);
 *   - sends the commands that only answer "command OK" with the next one,
 *     in one message, when an observer allows it (fold.c), and a prepared
 *     statement run once as one command with its values inline (prepared.c);
 *   - runs the observers' transaction callbacks before postgres_fdw's (the
 *     early callback, registered once postgres_fdw has registered its own)
 *     and after it (the late callback, registered at load).
 */
#include "postgres.h"

#include <dlfcn.h>

#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "appname.h"
#include "fdwconn.h"
#include "settings.h"
#include "shared.h"
#include "util.h"

/*
 * The libpq functions defined here must be exported even where PGXS builds
 * with -fvisibility=hidden (PostgreSQL 16 and later).
 */
#define PGDIST_EXPORT __attribute__((visibility("default")))

#define MAX_OBSERVERS 8

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
static int	(*real_PQsendQuery) (PGconn *conn, const char *query);
static SendQueryParamsFn real_PQsendQueryParams;
static SendPrepareFn real_PQsendPrepare;
static SendQueryPreparedFn real_PQsendQueryPrepared;
static int	(*real_PQisBusy) (PGconn *conn);
static PGresult *(*real_PQgetResult) (PGconn *conn);
static char *(*real_PQcmdTuples) (PGresult *res);
static void (*real_PQclear) (PGresult *res);

static const FdwConnObserver *observers[MAX_OBSERVERS];
static int	n_observers = 0;

static HTAB *fdw_conns = NULL;
static void *postgres_fdw_base = NULL;
static bool early_callback_registered = false;

/* The observers' pre-commit callbacks ran in this transaction: its commit is decided. */
static bool pre_commit_ran = false;

static const char *const read_prefixes[] = {FDW_READ_PREFIXES, NULL};

/* Each RemoteXactState in a message: "its remote transaction is ...". */
static const char *const state_names[] = {
	"not started", "started, nothing written", "written, and was never sent PREPARE TRANSACTION",
	"sent PREPARE TRANSACTION, its answer unseen", "prepared", "refused by PREPARE TRANSACTION",
	"committed in one phase"
};

/* The answer given for a command before the node's, until postgres_fdw has read it. */
static PGresult *early_result = NULL;
static char early_tuples[16];
static PGconn *early_conn = NULL;
static bool early_given = false;
/* A node's error handed in place of the early answer (a statement prepared late that the node refused). */
static PGresult *early_error = NULL;

#define NOTIFY(member, ...) \
	do { \
		for (int i_ = 0; i_ < n_observers; i_++) \
			if (observers[i_]->member) \
				observers[i_]->member(__VA_ARGS__); \
	} while (0)

/* True when address is in pgdist.so (compared with a static function, which nothing can interpose). */
static bool
defined_here(void *address)
{
	Dl_info		found;
	Dl_info		self;

	return address != NULL && dladdr(address, &found) && dladdr((void *) defined_here, &self) &&
		found.dli_fbase == self.dli_fbase;
}

/* Features register at load, before any connection exists. */
void
fdwconn_observe(const FdwConnObserver *observer)
{
	if (n_observers >= MAX_OBSERVERS)
		elog(ERROR, "pgdist: more than %d observers of postgres_fdw's connections", MAX_OBSERVERS);
	observers[n_observers++] = observer;
}

/* True once a postgres_fdw connection has gone through the layer in this backend. */
bool
fdwconn_active(void)
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
	fc->state = REMOTE_XACT_NONE;
	fc->gid[0] = '\0';
	fold_reset(&fc->fold);
	prepared_reset(&fc->prepared);
	return true;
}

static void
early_xact_callback(XactEvent event, void *arg)
{
	NOTIFY(before_fdw_xact, event);
	if (event == XACT_EVENT_PRE_COMMIT)
		pre_commit_ran = true;
}

/* Registered at load, before postgres_fdw's: runs after it, once its commit or abort is done. */
static void
late_xact_callback(XactEvent event, void *arg)
{
	NOTIFY(after_fdw_xact, event);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
	{
		fdwconn_foreach(reset_conn, NULL);
		early_conn = NULL;
		pre_commit_ran = false;
	}
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
	if (!found)
	{
		memset(&fc->fold, 0, sizeof(fc->fold));
		memset(&fc->prepared, 0, sizeof(fc->prepared));
	}
	reset_conn(fc, NULL);

	/*
	 * postgres_fdw registered its transaction callback before opening its
	 * first connection. Registered now, ours runs before it at every event:
	 * the features decide before postgres_fdw sends its COMMITs.
	 */
	if (!early_callback_registered && pgdist_test_contract_break != CONTRACT_BREAK_CALLBACK_ORDER)
	{
		RegisterXactCallback(early_xact_callback, NULL);
		early_callback_registered = true;
	}
}

void
fdwconn_init(void)
{
	real_PQconnectdbParams = (ConnectParamsFn) pgdist_libpq_symbol("PQconnectdbParams");
	real_PQconnectStartParams = (ConnectParamsFn) pgdist_libpq_symbol("PQconnectStartParams");
	real_PQfinish = (void (*) (PGconn *)) pgdist_libpq_symbol("PQfinish");
	real_PQsendQuery = (int (*) (PGconn *, const char *)) pgdist_libpq_symbol("PQsendQuery");
	real_PQsendQueryParams = (SendQueryParamsFn) pgdist_libpq_symbol("PQsendQueryParams");
	real_PQsendPrepare = (SendPrepareFn) pgdist_libpq_symbol("PQsendPrepare");
	real_PQsendQueryPrepared = (SendQueryPreparedFn) pgdist_libpq_symbol("PQsendQueryPrepared");
	real_PQisBusy = (int (*) (PGconn *)) pgdist_libpq_symbol("PQisBusy");
	real_PQgetResult = (PGresult * (*) (PGconn *)) pgdist_libpq_symbol("PQgetResult");
	real_PQcmdTuples = (char *(*) (PGresult *)) pgdist_libpq_symbol("PQcmdTuples");
	real_PQclear = (void (*) (PGresult *)) pgdist_libpq_symbol("PQclear");

	/*
	 * Libraries loaded later bind to the first definition in the global
	 * scope: it must be ours, or postgres_fdw would commit without two-phase
	 * commit and nobody would know (a build without PGDIST_EXPORT, or libpq
	 * loaded globally by a library preloaded before pgdist).
	 */
	if (!defined_here(dlsym(RTLD_DEFAULT, "PQsendQuery")))
		elog(FATAL, "pgdist: its libpq functions are not the ones postgres_fdw would call");
	RegisterXactCallback(late_xact_callback, NULL);
	fold_init();
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

/* PostgreSQL 16 and later connect through libpqsrv_connect_params(), inlined in postgres_fdw. */
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
	FdwConn    *fc = find_conn(conn);

	if (fc != NULL)
	{
		NOTIFY(on_finish, fc);
		fold_reset(&fc->fold);
		prepared_reset(&fc->prepared);
		if (conn == early_conn)
			early_conn = NULL;
		hash_search(fdw_conns, &conn, HASH_REMOVE, NULL);
	}
	real_PQfinish(conn);
}

static bool
is_read(const char *sql)
{
	for (const char *const *prefix = read_prefixes; *prefix != NULL; prefix++)
		if (strncmp(sql, *prefix, strlen(*prefix)) == 0)
			return true;
	return false;
}

/* The text pgdist takes for postgres_fdw's commit of a remote transaction. */
const char *
fdwconn_commit_text(void)
{
	return pgdist_test_contract_break == CONTRACT_BREAK_COMMIT_TEXT ? "COMMIT" : FDW_COMMIT;
}

bool
fdwconn_is_commit(const FdwCommand *command)
{
	return command->kind == SEND_QUERY && command->sql != NULL && strcmp(command->sql, fdwconn_commit_text()) == 0;
}

const char *
fdwconn_state_name(RemoteXactState state)
{
	return state_names[state];
}

/* postgres_fdw's COMMIT: a remote transaction that wrote may be prepared instead. */
static const char *
commit(FdwConn *fc, const char *sql)
{
	static char prepare[PGDIST_GID_LEN + 32];

	if (fc->state == REMOTE_XACT_WROTE)
	{
		if (!pre_commit_ran)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("pgdist: postgres_fdw commits on %s before pgdist has decided how to commit",
							fdwconn_describe(fc)),
					 errdetail("Its transaction callback ran before pgdist's, which must choose between one and two phases first. Nothing was committed on that node."),
					 errhint("pgdist must be first in shared_preload_libraries, and postgres_fdw must behave as fdw_contract.h says for this PostgreSQL major.")));
		for (int i = 0; i < n_observers; i++)
		{
			if (observers[i]->prepare_instead && observers[i]->prepare_instead(fc, fc->gid))
			{
				snprintf(prepare, sizeof(prepare), "PREPARE TRANSACTION '%s'", fc->gid);
				fc->state = REMOTE_XACT_PREPARE_SENT;
				return prepare;
			}
		}
	}
	fc->state = REMOTE_XACT_COMMIT_SENT;
	return sql;
}

/* A command that is neither a read nor the commit: fc's remote transaction wrote. */
static void
wrote(FdwConn *fc, const char *sql)
{
	if (fc->state == REMOTE_XACT_WROTE)
		return;
	if (pre_commit_ran)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("pgdist: postgres_fdw writes on %s after pgdist has decided how to commit",
						fdwconn_describe(fc)),
				 errdetail("The command was: %s. The decision counted the nodes written before it; nothing was committed.", sql),
				 errhint("postgres_fdw must behave as fdw_contract.h says for this PostgreSQL major.")));
	fc->state = REMOTE_XACT_WROTE;
}

/*
 * What a command of postgres_fdw's does to its remote transaction; returns
 * the text to send. Whatever is not a known read is taken for a write: a
 * form of write pgdist does not know must not commit in one phase unseen.
 */
static const char *
advance(FdwConn *fc, const FdwCommand *command)
{
	const char *sql = command->sql;

	if (sql == NULL)
		return NULL;
	if (command->kind == SEND_QUERY && strncmp(sql, FDW_START_PREFIX, strlen(FDW_START_PREFIX)) == 0)
	{
		fc->state = REMOTE_XACT_STARTED;
		for (int i = 0; i < n_observers; i++)
		{
			const char *instead;

			if (observers[i]->rewrite_start && (instead = observers[i]->rewrite_start(fc, sql)) != NULL)
				return instead;
		}
		return sql;
	}
	if (fdwconn_is_commit(command))
		return commit(fc, sql);
	if ((fc->state == REMOTE_XACT_NONE || fc->state == REMOTE_XACT_STARTED || fc->state == REMOTE_XACT_WROTE) &&
		!is_read(sql))
		wrote(fc, sql);
	return sql;
}

/* May commands on fc wait for the next one (an observer says so)? */
static bool
folding_on(FdwConn *fc)
{
	for (int i = 0; i < n_observers; i++)
		if (observers[i]->may_fold && observers[i]->may_fold(fc))
			return true;
	return false;
}

/*
 * Offers a command to fold.c (sql: the text to send, simple: it may travel in
 * a simple-protocol message); FOLD_PASS: the caller sends it as asked.
 */
static FoldOutcome
fold(FdwConn *fc, const FdwCommand *command, const char *sql, bool simple)
{
	FoldCommand fold = {command->sql, sql, simple && command->sql != NULL, folding_on(fc), false};

	if (fold.simple && fold_lone_candidate(&fc->fold, sql))
		for (int i = 0; i < n_observers; i++)
			if (observers[i]->read_alone && observers[i]->read_alone(fc))
				fold.alone = true;
	return fold_command(fc->conn, &fc->fold, &fold);
}

/* A command with its values inline, sent as a simple one (the commands kept go with it); observers see command. */
static int
send_inlined(FdwConn *fc, const FdwCommand *command, char *sql)
{
	FdwCommand	inlined = {SEND_QUERY, sql, NULL, 0};
	int			sent = 1;

	switch (fold(fc, &inlined, sql, true))
	{
		case FOLD_SEND_FAILED:
			sent = 0;
			break;
		case FOLD_PASS:
			fold_count_message();
			sent = real_PQsendQuery(fc->conn, sql);
			break;
		case FOLD_ANSWERED:
		case FOLD_SENT:
			break;
	}
	pfree(sql);
	if (sent)
		NOTIFY(on_sent, fc, command);
	return sent;
}

PGDIST_EXPORT int
PQsendQuery(PGconn *conn, const char *query)
{
	FdwConn    *fc = find_conn(conn);
	FdwCommand	command = {SEND_QUERY, query, NULL, 0};
	const char *sql;

	if (fc == NULL || query == NULL)
		return real_PQsendQuery(conn, query);
	NOTIFY(before_send, fc, &command);
	if (prepared_deallocates_kept(&fc->prepared, query))
	{
		/* Never prepared on the node: answered here (the early answer exists since its PREPARE's). */
		prepared_reset(&fc->prepared);
		(void) fdwconn_answer_early(fc, 0);
		pg_atomic_fetch_add_u64(&pgdist_shared->folded_commands, 1);
		NOTIFY(on_sent, fc, &command);
		return 1;
	}
	sql = advance(fc, &command);
	switch (fold(fc, &command, sql, true))
	{
		case FOLD_SEND_FAILED:
			return 0;
		case FOLD_PASS:
			fold_count_message();
			if (!real_PQsendQuery(conn, sql))
				return 0;
			break;
		case FOLD_ANSWERED:
		case FOLD_SENT:
			break;
	}
	command.sql = sql;
	NOTIFY(on_sent, fc, &command);
	return 1;
}

PGDIST_EXPORT int
PQsendQueryParams(PGconn *conn, const char *query, int nParams, const Oid *paramTypes,
				  const char *const *paramValues, const int *paramLengths,
				  const int *paramFormats, int resultFormat)
{
	FdwConn    *fc = find_conn(conn);
	FdwCommand	command = {SEND_QUERY_PARAMS, query, NULL, resultFormat};
	char	   *inlined;

	if (fc == NULL || query == NULL)
		return real_PQsendQueryParams(conn, query, nParams, paramTypes, paramValues,
									  paramLengths, paramFormats, resultFormat);
	NOTIFY(before_send, fc, &command);
	(void) advance(fc, &command);
	/* Untyped text parameters, as postgres_fdw sends them (it casts each $n in the text itself). */
	if (nParams > 0 && paramTypes == NULL && resultFormat == 0 && folding_on(fc) &&
		(inlined = prepared_with_values(conn, query, nParams, paramValues, paramFormats)) != NULL)
		return send_inlined(fc, &command, inlined);
	switch (fold(fc, &command, query, nParams == 0 && resultFormat == 0))
	{
		case FOLD_SEND_FAILED:
			return 0;
		case FOLD_PASS:
			fold_count_message();
			if (!real_PQsendQueryParams(conn, query, nParams, paramTypes, paramValues,
										paramLengths, paramFormats, resultFormat))
				return 0;
			break;
		case FOLD_ANSWERED:
		case FOLD_SENT:
			break;
	}
	NOTIFY(on_sent, fc, &command);
	return 1;
}

PGDIST_EXPORT int
PQsendPrepare(PGconn *conn, const char *stmtName, const char *query, int nParams,
			  const Oid *paramTypes)
{
	FdwConn    *fc = find_conn(conn);
	FdwCommand	command = {SEND_PREPARE, query, stmtName, 0};

	if (fc == NULL || query == NULL)
		return real_PQsendPrepare(conn, stmtName, query, nParams, paramTypes);
	NOTIFY(before_send, fc, &command);
	(void) advance(fc, &command);
	if (folding_on(fc) && prepared_defer(&fc->prepared, stmtName, query, nParams, paramTypes))
	{
		if (fdwconn_answer_early(fc, 0))
		{
			pg_atomic_fetch_add_u64(&pgdist_shared->folded_commands, 1);
			NOTIFY(on_sent, fc, &command);
			return 1;
		}
		prepared_reset(&fc->prepared);
	}
	(void) fold(fc, &command, query, false);	/* never folded: what it depends on goes first */
	fold_count_message();
	if (!real_PQsendPrepare(conn, stmtName, query, nParams, paramTypes))
		return 0;
	NOTIFY(on_sent, fc, &command);
	return 1;
}

/*
 * The kept statement goes to the node before an execution (its second, or
 * one whose values cannot be inline), and its answer is read here, as
 * postgres_fdw reads a PREPARE's. False when the node refused it: its error
 * is then the execution's answer.
 */
static bool
prepare_kept_now(FdwConn *fc)
{
	PreparedState *ps = &fc->prepared;
	FdwCommand	prepare = {SEND_PREPARE, ps->sql, ps->name, 0};
	PGresult   *res;
	PGresult   *failed = NULL;
	bool		sent;

	(void) fold(fc, &prepare, ps->sql, false);	/* what it depends on goes first */
	fold_count_message();
	sent = real_PQsendPrepare(fc->conn, ps->name, ps->sql, 0, NULL);
	prepared_reset(ps);
	if (!sent)
		return true;			/* libpq refused: so will it the execution, with its error */
	while (real_PQisBusy(fc->conn))
	{
		(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_EXIT_ON_PM_DEATH,
								 PQsocket(fc->conn), -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (!PQconsumeInput(fc->conn))
			break;				/* the connection is lost: the execution reports it */
	}
	while ((res = real_PQgetResult(fc->conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK && failed == NULL)
			failed = res;
		else
			real_PQclear(res);
	}
	if (failed == NULL)
		return true;
	(void) fdwconn_answer_early(fc, 0);
	early_error = failed;
	return false;
}

PGDIST_EXPORT int
PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
					const char *const *paramValues, const int *paramLengths,
					const int *paramFormats, int resultFormat)
{
	FdwConn    *fc = find_conn(conn);
	FdwCommand	command = {SEND_EXECUTE, NULL, stmtName, resultFormat};

	if (fc == NULL)
		return real_PQsendQueryPrepared(conn, stmtName, nParams, paramValues, paramLengths,
										paramFormats, resultFormat);
	NOTIFY(before_send, fc, &command);
	if (prepared_kept(&fc->prepared, stmtName))
	{
		char	   *inlined = resultFormat == 0 ?
			prepared_inline(conn, &fc->prepared, nParams, paramValues, paramFormats) : NULL;

		if (inlined != NULL)
			return send_inlined(fc, &command, inlined);
		if (!prepare_kept_now(fc))
			return 1;			/* the node's refusal is the execution's answer */
	}
	(void) fold(fc, &command, NULL, false);
	fold_count_message();
	if (!real_PQsendQueryPrepared(conn, stmtName, nParams, paramValues, paramLengths,
								  paramFormats, resultFormat))
		return 0;
	NOTIFY(on_sent, fc, &command);
	return 1;
}

/* A feature's own command on fc's connection (COMMIT PREPARED, say): libpq's, unobserved. */
int
fdwconn_send_own(FdwConn *fc, const char *sql)
{
	fold_count_message();
	return real_PQsendQuery(fc->conn, sql);
}

/*
 * The next PQgetResult on fc's connection returns a command's success with
 * rows counted, then the end of its results, before the node has answered.
 * The feature that asked reads the node's real answer itself.
 */
bool
fdwconn_answer_early(FdwConn *fc, int rows)
{
	if (early_result == NULL)
		early_result = PQmakeEmptyPGresult(NULL, PGRES_COMMAND_OK);
	if (early_result == NULL)
		return false;			/* out of memory: postgres_fdw waits as usual */
	snprintf(early_tuples, sizeof(early_tuples), "%d", rows);
	early_conn = fc->conn;
	early_given = false;
	return true;
}

/* fc's connection answers for itself again (its real answer is about to be read). */
void
fdwconn_end_early_answer(FdwConn *fc)
{
	if (fc->conn == early_conn)
		early_conn = NULL;
}

static bool
is_early(const PGresult *res)
{
	return res == early_result && res != NULL;
}

/* The four below are where postgres_fdw reads an answer given before the node's. */
PGDIST_EXPORT int
PQisBusy(PGconn *conn)
{
	FdwConn    *fc;

	if (conn == early_conn && conn != NULL)
		return 0;
	if ((fc = find_conn(conn)) != NULL && fold_active(&fc->fold))
		return fold_is_busy(conn, &fc->fold);
	return real_PQisBusy(conn);
}

PGDIST_EXPORT PGresult *
PQgetResult(PGconn *conn)
{
	PGresult   *res;
	FdwConn    *fc;

	if (conn == early_conn && conn != NULL)
	{
		if (!early_given)
		{
			early_given = true;
			if (early_error != NULL)
			{
				res = early_error;
				early_error = NULL;
				return res;
			}
			return early_result;
		}
		early_conn = NULL;
		return NULL;
	}
	fc = find_conn(conn);
	res = fc != NULL && fold_active(&fc->fold) ? fold_get_result(conn, &fc->fold) : real_PQgetResult(conn);
	if (fc != NULL)
	{
		if (res != NULL && fc->state == REMOTE_XACT_PREPARE_SENT &&
			pgdist_test_contract_break != CONTRACT_BREAK_PREPARE_ANSWER)
			fc->state = PQresultStatus(res) == PGRES_COMMAND_OK ? REMOTE_XACT_PREPARED
				: REMOTE_XACT_PREPARE_FAILED;
		NOTIFY(on_result, fc, res);
	}
	return res;
}

PGDIST_EXPORT char *
PQcmdTuples(PGresult *res)
{
	if (is_early(res))
		return early_tuples;
	return real_PQcmdTuples(res);
}

/* The early answer is kept for the next one: never freed, so its address is never another result's. */
PGDIST_EXPORT void
PQclear(PGresult *res)
{
	if (!is_early(res))
		real_PQclear(res);
}

void
fdwconn_foreach(FdwConnVisitor visitor, void *arg)
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

static bool
option_is(List *options, const char *name, const char *value)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return value != NULL && strcmp(defGetString(def), value) == 0;
	}
	return true;					/* not set: libpq's default, which may be anything */
}

/*
 * fc's node for a message: server "s1" (host:port, database d) when exactly
 * one postgres_fdw server of this database has these options, else the
 * address alone. Catalog access: in a transaction only.
 */
char *
fdwconn_describe(FdwConn *fc)
{
	const char *host = PQhost(fc->conn);
	const char *port = PQport(fc->conn);
	const char *db = PQdb(fc->conn);
	char	   *where = psprintf("%s:%s, database %s", host ? host : "?", port ? port : "?", db ? db : "?");
	const char *name = NULL;
	int			matches = 0;
	ListCell   *lc;

	if (IsTransactionState())
	{
		foreach(lc, pgdist_fdw_servers())
		{
			ForeignServer *server = (ForeignServer *) lfirst(lc);

			if (option_is(server->options, "host", host) && option_is(server->options, "port", port) &&
				option_is(server->options, "dbname", db))
			{
				matches++;
				name = server->servername;
			}
		}
	}
	if (matches == 1)
		return psprintf("server \"%s\" (%s)", name, where);
	return psprintf("the node at %s", where);
}
