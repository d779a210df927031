/*
 * deadlock.h: one pass of the distributed deadlock detector (deadlock.c).
 */
#ifndef PGDIST_DEADLOCK_H
#define PGDIST_DEADLOCK_H

extern int	pgdist_deadlock_pass(void);

#endif							/* PGDIST_DEADLOCK_H */
