/*
 * recovery.h: finishing the prepared transactions twophase.c left on the
 * nodes, from the commit records.
 */
#ifndef PGDIST_RECOVERY_H
#define PGDIST_RECOVERY_H

#include "access/tupdesc.h"
#include "utils/tuplestore.h"

extern int	pgdist_recover(bool report_only, Tuplestorestate *tupstore, TupleDesc tupdesc);

#endif							/* PGDIST_RECOVERY_H */
