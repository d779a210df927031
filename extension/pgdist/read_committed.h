/*
 * read_committed.h: READ COMMITTED remote transactions (pgdist.read_committed).
 */
#ifndef PGDIST_READ_COMMITTED_H
#define PGDIST_READ_COMMITTED_H

extern void pgdist_read_committed_init(void);

#endif							/* PGDIST_READ_COMMITTED_H */
