/*
 * shared.c: pgdist's shared memory, asked for at load and set up once by
 * the postmaster.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shared.h"

PgdistShared *pgdist_shared = NULL;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

static void
request_shmem(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgdistShared)));
}

static void
startup_shmem(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgdist_shared = ShmemInitStruct("pgdist", sizeof(PgdistShared), &found);
	if (!found)
	{
		memset(pgdist_shared, 0, sizeof(PgdistShared));
		pg_atomic_init_u64(&pgdist_shared->one_phase_commits, 0);
		pg_atomic_init_u64(&pgdist_shared->two_phase_commits, 0);
		pg_atomic_init_u64(&pgdist_shared->prepared_resolved, 0);
		pg_atomic_init_u64(&pgdist_shared->deadlocks_broken, 0);
		pg_atomic_init_u64(&pgdist_shared->orphans_terminated, 0);
		pg_atomic_init_u64(&pgdist_shared->remote_messages, 0);
		pg_atomic_init_u64(&pgdist_shared->folded_commands, 0);
		pg_atomic_init_u64(&pgdist_shared->lone_reads, 0);
		pg_atomic_init_u64(&pgdist_shared->lone_retries, 0);
		pg_atomic_init_u64(&pgdist_shared->routed_statements, 0);
		pg_atomic_init_u64(&pgdist_shared->fallback_statements, 0);
		pg_atomic_init_u64(&pgdist_shared->consistent_snapshots, 0);
		pg_atomic_init_u64(&pgdist_shared->snapshot_wait_us, 0);
		pg_atomic_init_u64(&pgdist_shared->snapshot_pause_us, 0);
		SpinLockInit(&pgdist_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pgdist_shared_init(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = request_shmem;
#else
	request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = startup_shmem;
}
