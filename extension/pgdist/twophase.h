/*
 * twophase.h: atomic commit of transactions that wrote on more than one
 * node (twophase.c), and what recovery and restore points share with it.
 */
#ifndef PGDIST_TWOPHASE_H
#define PGDIST_TWOPHASE_H

#include "access/transam.h"
#include "storage/lock.h"

#include "fdwconn.h"

#define PGDIST_GID_PREFIX "pgdist_"

extern void pgdist_twophase_init(void);
extern void pgdist_commit_lock_tag(LOCKTAG *tag);
extern bool pgdist_parse_gid(const char *gid, char *transaction, FullTransactionId *fxid);

#endif							/* PGDIST_TWOPHASE_H */
