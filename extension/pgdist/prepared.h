/*
 * prepared.h: postgres_fdw's prepared statements run once, sent as one
 * simple-protocol command (the connection layer, beside fold.c).
 */
#ifndef PGDIST_PREPARED_H
#define PGDIST_PREPARED_H

#include "libpq-fe.h"

/* Parameters, and bytes of their values, an execution may have to be sent with its values inline. */
#define PREPARED_MAX_INLINE_PARAMS 64
#define PREPARED_MAX_INLINE_BYTES 65536

typedef enum PreparedPhase
{
	PREPARED_NONE,				/* no statement of postgres_fdw's kept back */
	PREPARED_DEFERRED,			/* its PREPARE was answered here, not sent */
	PREPARED_INLINED			/* its first execution went with the values inline: not on the node */
} PreparedPhase;

typedef struct PreparedState
{
	PreparedPhase phase;
	char	   *name;			/* the statement's name and text (TopMemoryContext) */
	char	   *sql;
} PreparedState;

extern bool prepared_defer(PreparedState *ps, const char *name, const char *sql, int nParams,
						   const Oid *paramTypes);
extern bool prepared_kept(const PreparedState *ps, const char *name);
extern char *prepared_inline(PGconn *conn, PreparedState *ps, int nParams, const char *const *values,
							 const int *formats);
extern bool prepared_deallocates_kept(const PreparedState *ps, const char *sql);
extern void prepared_reset(PreparedState *ps);

#endif							/* PGDIST_PREPARED_H */
