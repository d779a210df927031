/*
 * fdwconn.h: the connection layer, between postgres_fdw and libpq.
 *
 * It owns postgres_fdw's connections as libpq sees them, and one state per
 * remote transaction, known from what postgres_fdw sends and reads on it.
 * It knows no feature: the features (two-phase commit, READ COMMITTED,
 * async insert) register an observer and are called at the points below;
 * they call down into this layer, never the other way.
 *
 * The layer refuses (ERROR, before anything is sent) what would let a
 * writing remote transaction commit behind the features' back: a COMMIT on
 * a connection that wrote before the observers' pre-commit callbacks ran in
 * this transaction (postgres_fdw's callback ran first), and a connection
 * becoming a writer after they ran (the commit was decided without it).
 */
#ifndef PGDIST_FDWCONN_H
#define PGDIST_FDWCONN_H

#include "access/xact.h"
#include "libpq-fe.h"

#include "fdw_contract.h"
#include "fold.h"
#include "prepared.h"

#define PGDIST_GID_LEN 96

/* The remote transaction of one connection in the current local transaction. */
typedef enum RemoteXactState
{
	REMOTE_XACT_NONE,			/* none yet in this local transaction */
	REMOTE_XACT_STARTED,		/* START TRANSACTION sent, nothing written */
	REMOTE_XACT_WROTE,			/* a write was sent */
	REMOTE_XACT_PREPARE_SENT,	/* PREPARE TRANSACTION sent in place of postgres_fdw's COMMIT */
	REMOTE_XACT_PREPARED,		/* the node confirmed the PREPARE */
	REMOTE_XACT_PREPARE_FAILED, /* the node refused it: nothing of it stays there */
	REMOTE_XACT_COMMIT_SENT		/* postgres_fdw's COMMIT sent as it was (one phase) */
} RemoteXactState;

typedef struct FdwConn
{
	PGconn	   *conn;			/* hash key */
	RemoteXactState state;
	char		gid[PGDIST_GID_LEN];	/* its name once PREPARE was sent */
	FoldState	fold;			/* commands kept for its next message (fold.c) */
	PreparedState prepared;		/* a statement whose PREPARE was kept (prepared.c) */
} FdwConn;

/* How postgres_fdw sent a command (the libpq function). */
typedef enum FdwCommandKind
{
	SEND_QUERY,					/* PQsendQuery */
	SEND_QUERY_PARAMS,			/* PQsendQueryParams */
	SEND_PREPARE,				/* PQsendPrepare */
	SEND_EXECUTE					/* PQsendQueryPrepared */
} FdwCommandKind;

typedef struct FdwCommand
{
	FdwCommandKind kind;
	const char *sql;			/* NULL for an execution */
	const char *statement;		/* the prepared statement's name (prepare, execute) */
	int			result_format;	/* execute: 0 text, 1 binary */
} FdwCommand;

/*
 * What a feature observes. Every member may be NULL. Observers are called
 * in the order they were registered.
 */
typedef struct FdwConnObserver
{
	/* postgres_fdw starts a remote transaction: the START to send instead, or NULL */
	const char *(*rewrite_start) (FdwConn *fc, const char *sql);
	/* postgres_fdw commits a remote transaction that wrote: true to PREPARE it as gid instead */
	bool		(*prepare_instead) (FdwConn *fc, char *gid);
	/* before a command goes out on fc: the place to read what is pending there */
	void		(*before_send) (FdwConn *fc, const FdwCommand *command);
	/* after libpq took the command */
	void		(*on_sent) (FdwConn *fc, const FdwCommand *command);
	/* a result postgres_fdw (or a feature) read from the node; NULL at the end of a command's */
	void		(*on_result) (FdwConn *fc, PGresult *res);
	/* postgres_fdw closes the connection */
	void		(*on_finish) (FdwConn *fc);
	/* may commands that only answer "command OK" wait for the next one on fc (fold.c)? */
	bool		(*may_fold) (FdwConn *fc);
	/* is the statement running a lone read, whose remote transaction on fc may go in one message? */
	bool		(*read_alone) (FdwConn *fc);
	/* local transaction events before postgres_fdw's callback (once it has a connection) */
	void		(*before_fdw_xact) (XactEvent event);
	/* and after it, every transaction */
	void		(*after_fdw_xact) (XactEvent event);
} FdwConnObserver;

extern void fdwconn_init(void);
extern void fdwconn_observe(const FdwConnObserver *observer);
extern bool fdwconn_active(void);

typedef bool (*FdwConnVisitor) (FdwConn *fc, void *arg);
extern void fdwconn_foreach(FdwConnVisitor visitor, void *arg);
extern int	fdwconn_send_own(FdwConn *fc, const char *sql);
extern bool fdwconn_is_commit(const FdwCommand *command);
extern const char *fdwconn_commit_text(void);
extern char *fdwconn_describe(FdwConn *fc);
extern const char *fdwconn_state_name(RemoteXactState state);

/* An answer given to postgres_fdw before the node's: a command that counted rows. */
extern bool fdwconn_answer_early(FdwConn *fc, int rows);
extern void fdwconn_end_early_answer(FdwConn *fc);

#endif							/* PGDIST_FDWCONN_H */
