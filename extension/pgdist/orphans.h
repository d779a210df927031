/*
 * orphans.h: terminating remote sessions whose coordinator backend is gone
 * or stopped (orphans.c).
 */
#ifndef PGDIST_ORPHANS_H
#define PGDIST_ORPHANS_H

extern int	pgdist_orphan_pass(void);

#endif							/* PGDIST_ORPHANS_H */
