/*
 * fold.h: several of postgres_fdw's commands in one message (the connection
 * layer, beneath fdwconn.c; it calls nothing of pgdist but the shared
 * helpers).
 *
 * A command whose only answer postgres_fdw checks is "command OK" (START
 * TRANSACTION, DECLARE without parameters, CLOSE) is answered here and kept;
 * the commands kept are sent ahead of the next command in the same
 * simple-protocol message, in the order postgres_fdw sent them, and their
 * answers are read away (an error among them is handed to postgres_fdw in
 * place of its command's answer). A lone read sends its remote transaction
 * whole: START, DECLARE, FETCH and COMMIT in one message.
 */
#ifndef PGDIST_FOLD_H
#define PGDIST_FOLD_H

#include "libpq-fe.h"

/* Commands kept at most before the next one is sent with them (and results kept of one message). */
#define FOLD_MAX_QUEUED 8
#define FOLD_MAX_RESULTS (FOLD_MAX_QUEUED + 2)

typedef enum FoldPhase
{
	FOLD_IDLE,					/* nothing of ours in flight or to hand */
	FOLD_COLLECTING,			/* a folded message is in flight: its answers are being read */
	FOLD_HANDING				/* answers for postgres_fdw, then the end of them */
} FoldPhase;

typedef struct FoldState
{
	char	   *queue;			/* the commands kept, each followed by "; " (TopMemoryContext) */
	int			queue_len;
	int			queue_size;
	int			queued;			/* how many statements (the answers they give) */
	bool		start_queued;	/* the first of them starts the remote transaction */
	bool		declare_queued; /* a DECLARE is among them */
	char	   *start;			/* that START, kept for a remote transaction started again */
	bool		alone_done;		/* a lone read committed the remote transaction postgres_fdw thinks open */
	char	   *redo;			/* a lone read's message as a plain fold, should its rows not all come */
	int			redo_target;
	int			alone_rows;		/* the FETCH count of the lone read in flight, 0 when none */
	FoldPhase	phase;
	int			target;			/* index of the answer postgres_fdw waits for; -1: none (a flush) */
	int			count;
	PGresult   *results[FOLD_MAX_RESULTS];
	int			nhand;
	int			next_hand;
	PGresult   *hand[FOLD_MAX_RESULTS];
} FoldState;

/* What became of a command. */
typedef enum FoldOutcome
{
	FOLD_PASS,					/* not folded: send it as postgres_fdw asked */
	FOLD_ANSWERED,				/* kept, or answered here: nothing to send */
	FOLD_SENT,					/* sent, with the commands kept before it */
	FOLD_SEND_FAILED			/* libpq refused the message */
} FoldOutcome;

/* What fdwconn.c knows of a command. */
typedef struct FoldCommand
{
	const char *original;		/* postgres_fdw's text (NULL for an execution) */
	const char *sql;			/* the text to send (a START or COMMIT rewritten) */
	bool		simple;			/* it may travel in a simple-protocol message (no parameters, text results) */
	bool		may_defer;		/* folding is on for new commands */
	bool		alone;			/* the statement is a lone read: its remote transaction may go whole */
} FoldCommand;

extern void fold_init(void);
extern bool fold_lone_candidate(FoldState *fs, const char *sql);
extern FoldOutcome fold_command(PGconn *conn, FoldState *fs, const FoldCommand *command);
extern bool fold_active(const FoldState *fs);
extern int	fold_is_busy(PGconn *conn, FoldState *fs);
extern PGresult *fold_get_result(PGconn *conn, FoldState *fs);
extern void fold_reset(FoldState *fs);
extern void fold_count_message(void);

#endif							/* PGDIST_FOLD_H */
