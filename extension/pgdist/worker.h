/*
 * worker.h: the pgdist maintenance worker (worker.c).
 */
#ifndef PGDIST_WORKER_H
#define PGDIST_WORKER_H

#include "fmgr.h"

extern void pgdist_register_worker(void);
extern PGDLLEXPORT void pgdist_worker_main(Datum main_arg);

#endif							/* PGDIST_WORKER_H */
