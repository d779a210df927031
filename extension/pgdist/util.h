/*
 * util.h: helpers every unit of pgdist may call (bottom layer, calls nothing of pgdist).
 */
#ifndef PGDIST_UTIL_H
#define PGDIST_UTIL_H

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"

extern HTAB *pgdist_hash(const char *name, long size, Size keysize, Size entrysize, MemoryContext context);
extern void pgdist_materialize(FunctionCallInfo fcinfo);
extern List *pgdist_fdw_servers(void);
extern void *pgdist_libpq_symbol(const char *name);
extern void pgdist_free_text(char **text);

#endif							/* PGDIST_UTIL_H */
