/*
 * pgdist: the coordinator extension of pgdist.cluster.
 *
 * postgres_fdw keeps one libpq connection per user mapping and commits the
 * remote transactions one after another at pre-commit. pgdist sits between
 * postgres_fdw and libpq (libpq_shim.c): it sees every remote transaction
 * postgres_fdw starts, every write it sends and every COMMIT it issues, and
 * uses that to
 *   - run two-phase commit when a transaction wrote on more than one node
 *     (twophase.c), with recovery of prepared transactions (recovery.c);
 *   - give READ COMMITTED coordinator transactions READ COMMITTED remote
 *     transactions (libpq_shim.c);
 *   - name every remote session after the coordinator backend that owns it,
 *     so a background worker (worker.c) can find cross-node deadlocks
 *     (deadlock.c) and sessions whose coordinator backend is gone.
 */
#ifndef PGDIST_H
#define PGDIST_H

#include "postgres.h"

#include "access/transam.h"
#include "access/tupdesc.h"
#include "access/xact.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "libpq-fe.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

/*
 * The libpq functions libpq_shim.c puts in place of libpq's must be exported
 * even where PGXS builds with -fvisibility=hidden (PostgreSQL 16 and later).
 */
#define PGDIST_EXPORT __attribute__((visibility("default")))

#define PGDIST_GID_PREFIX "pgdist_"
#define PGDIST_APPNAME_PREFIX "pgdist:"
#define PGDIST_GID_LEN 96
#define PGDIST_MESSAGE_LEN 1024
#define PGDIST_DEADLOCK_SLOTS 64

/* GUCs (pgdist.c) */
extern bool pgdist_two_phase_commit;
extern bool pgdist_read_committed;
extern char *pgdist_database;
extern int	pgdist_deadlock_check_interval;
extern int	pgdist_recovery_interval;
extern int	pgdist_frozen_backend_timeout;
extern int	pgdist_commit_timeout;
extern bool pgdist_async_insert;

/* Shared state (pgdist.c) */
typedef struct DeadlockSlot
{
	int			pid;			/* 0 = free */
	TimestampTz backend_start;
	char		message[PGDIST_MESSAGE_LEN];
} DeadlockSlot;

typedef struct PgdistShared
{
	pg_atomic_uint64 one_phase_commits;
	pg_atomic_uint64 two_phase_commits;
	pg_atomic_uint64 prepared_resolved;
	pg_atomic_uint64 deadlocks_broken;
	pg_atomic_uint64 orphans_terminated;
	slock_t		mutex;			/* protects slots */
	DeadlockSlot slots[PGDIST_DEADLOCK_SLOTS];
} PgdistShared;

extern PgdistShared *pgdist_shared;

/* libpq_shim.c: the connections postgres_fdw opened, as libpq sees them */
struct InsertStatement;

typedef struct FdwConn
{
	PGconn	   *conn;			/* hash key */
	bool		in_xact;		/* a remote transaction began in this local one */
	bool		wrote;			/* a write was sent in this local transaction */
	bool		prepared;		/* its COMMIT was sent as PREPARE TRANSACTION */
	char		gid[PGDIST_GID_LEN];
	struct InsertStatement *unread; /* a batch answered early, its real answer not read yet */
} FdwConn;

extern void pgdist_shim_init(void);
extern bool pgdist_shim_active(void);
extern bool pgdist_xact_writes;
typedef bool (*FdwConnVisitor) (FdwConn *fc, void *arg);
extern void pgdist_foreach_conn(FdwConnVisitor visitor, void *arg);
extern void pgdist_reset_conns(void);
extern const char *pgdist_application_name(void);
extern int	(*pgdist_real_PQsendQuery) (PGconn *conn, const char *query);

/* async_insert.c: batches of postgres_fdw's INSERTs sent without waiting for their answer */
extern void pgdist_async_prepared(PGconn *conn, const char *name, const char *query);
extern void pgdist_async_deallocated(PGconn *conn, const char *sql);
extern void pgdist_async_executed(FdwConn *fc, const char *name);
extern bool pgdist_async_answers(PGconn *conn);
extern PGresult *pgdist_async_answer(void);
extern bool pgdist_async_is_answer(const PGresult *res);
extern const char *pgdist_async_answer_tuples(void);
extern void pgdist_async_result(PGconn *conn, PGresult *res);
extern void pgdist_async_read(FdwConn *fc);
extern void pgdist_async_read_all(void);

/* twophase.c */
extern void pgdist_twophase_init(void);
extern void pgdist_early_xact_callback(XactEvent event, void *arg);
extern const char *pgdist_commit_rewrite(FdwConn *fc);
extern void pgdist_commit_lock_tag(LOCKTAG *tag);
extern bool pgdist_parse_gid(const char *gid, char *transaction, FullTransactionId *fxid);

/* remote.c: connections of our own to the foreign servers */
typedef struct RemoteServer
{
	Oid			serverid;
	char	   *name;
	PGconn	   *conn;			/* NULL when it could not be reached */
	char	   *error;			/* why, when conn is NULL */
} RemoteServer;

extern List *pgdist_connect_servers(void);
extern void pgdist_disconnect_servers(List *servers);
extern PGresult *pgdist_remote_query(PGconn *conn, const char *sql, int nparams,
									 const char *const *params, int timeout_ms);
extern bool pgdist_wait_result(PGconn *conn, TimestampTz deadline, bool interruptible);
extern char *pgdist_result_error(PGresult *res, PGconn *conn);

/* recovery.c */
extern int	pgdist_recover(bool report_only, Tuplestorestate *tupstore, TupleDesc tupdesc);

/* deadlock.c */
extern int	pgdist_deadlock_pass(void);
extern int	pgdist_orphan_pass(void);
extern void pgdist_emit_log_hook(ErrorData *edata);
extern void pgdist_clear_own_slot(void);

/* pgdist.c */
extern HTAB *pgdist_hash(const char *name, long size, Size keysize, Size entrysize, MemoryContext context);
extern void pgdist_materialize(FunctionCallInfo fcinfo);

/* worker.c */
extern void pgdist_register_worker(void);
PGDLLEXPORT void pgdist_worker_main(Datum main_arg);

#endif							/* PGDIST_H */
