/*
 * shared.h: pgdist's shared memory, the counters stats() reports and the
 * slots a deadlock victim's message waits in (deadlock_report.c).
 */
#ifndef PGDIST_SHARED_H
#define PGDIST_SHARED_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/spin.h"

#define PGDIST_MESSAGE_LEN 1024
#define PGDIST_DEADLOCK_SLOTS 64

typedef struct DeadlockSlot
{
	int			pid;			/* 0 = free */
	TimestampTz backend_start;
	char		message[PGDIST_MESSAGE_LEN];
} DeadlockSlot;

typedef struct PgdistShared
{
	pg_atomic_uint64 one_phase_commits;
	pg_atomic_uint64 two_phase_commits;
	pg_atomic_uint64 prepared_resolved;
	pg_atomic_uint64 deadlocks_broken;
	pg_atomic_uint64 orphans_terminated;
	pg_atomic_uint64 remote_messages;	/* messages sent on postgres_fdw's connections */
	pg_atomic_uint64 folded_commands;	/* postgres_fdw's commands sent in another's message, or never */
	pg_atomic_uint64 lone_reads;	/* reads whose remote transaction went in one message */
	pg_atomic_uint64 lone_retries;	/* lone reads whose rows did not all come, scanned again */
	pg_atomic_uint64 routed_statements; /* statements the router let read alone */
	pg_atomic_uint64 fallback_statements;	/* statements with foreign scans it did not */
	pg_atomic_uint64 consistent_snapshots;	/* cuts taken on every node at once (snapshot.c) */
	pg_atomic_uint64 snapshot_wait_us;	/* their time waiting for two-phase commits in progress */
	pg_atomic_uint64 snapshot_pause_us; /* their time holding two-phase commits back */
	slock_t		mutex;			/* protects slots */
	DeadlockSlot slots[PGDIST_DEADLOCK_SLOTS];
} PgdistShared;

extern PgdistShared *pgdist_shared;

extern void pgdist_shared_init(void);

#endif							/* PGDIST_SHARED_H */
