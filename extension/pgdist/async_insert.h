/*
 * async_insert.h: postgres_fdw's INSERT batches sent without waiting for
 * each answer (pgdist.async_insert).
 */
#ifndef PGDIST_ASYNC_INSERT_H
#define PGDIST_ASYNC_INSERT_H

extern void pgdist_async_insert_init(void);

#endif							/* PGDIST_ASYNC_INSERT_H */
