/*
 * snapshot.h: consistent reads across nodes (snapshot.c, pgdist.consistent_reads).
 */
#ifndef PGDIST_SNAPSHOT_H
#define PGDIST_SNAPSHOT_H

extern void pgdist_snapshot_init(void);

#endif							/* PGDIST_SNAPSHOT_H */
