/*
 * router.h: single-shard statements in fewer round trips (pgdist.router), router.c.
 */
#ifndef PGDIST_ROUTER_H
#define PGDIST_ROUTER_H

extern void pgdist_router_init(void);

#endif							/* PGDIST_ROUTER_H */
