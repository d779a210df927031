/*
 * pgdist.c: the coordinator extension of pgdist.cluster, loaded by
 * shared_preload_libraries.
 *
 * postgres_fdw keeps one libpq connection per user mapping and commits the
 * remote transactions one after another at pre-commit. pgdist sits between
 * postgres_fdw and libpq (fdwconn.c, the connection layer): it sees every
 * remote transaction postgres_fdw starts, every write it sends and every
 * COMMIT it issues. The features above that layer use it to
 *   - run two-phase commit when a transaction wrote on more than one node
 *     (twophase.c), with recovery of prepared transactions (recovery.c) and
 *     restore points consistent across nodes (restore_point.c);
 *   - give READ COMMITTED coordinator transactions READ COMMITTED remote
 *     transactions (read_committed.c);
 *   - take a read's snapshots on every node at one moment when no two-phase
 *     commit is half done (snapshot.c);
 *   - send the later batches of an INSERT without waiting (async_insert.c);
 *   - send single-shard statements in fewer round trips, a lone read in one
 *     (router.c, over the connection layer's fold.c);
 *   - refuse an UPDATE that would leave a row in the wrong foreign partition
 *     (key_update.c, a planner hook);
 *   - name every remote session after the coordinator backend that owns it,
 *     so a background worker (worker.c) can find cross-node deadlocks
 *     (waitgraph.c, deadlock.c, deadlock_report.c, lock_waits.c) and
 *     sessions whose coordinator backend is gone (orphans.c).
 * This file loads them, and reports their counters (stats()).
 */
#include "postgres.h"

#include <dlfcn.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "async_insert.h"
#include "deadlock_report.h"
#include "fdw_contract.h"
#include "fdwconn.h"
#include "key_update.h"
#include "read_committed.h"
#include "router.h"
#include "settings.h"
#include "shared.h"
#include "snapshot.h"
#include "twophase.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgdist must be loaded by shared_preload_libraries"),
				 errhint("Add pgdist to shared_preload_libraries and restart the server.")));
	/* Loaded first, postgres_fdw would have bound libpq's functions instead of ours. */
	if (dlsym(RTLD_DEFAULT, "postgres_fdw_handler") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgdist must be loaded before postgres_fdw"),
				 errhint("List pgdist before postgres_fdw in shared_preload_libraries.")));
	pgdist_define_settings();
	pgdist_check_fdw_contract();
	pgdist_shared_init();
	fdwconn_init();

	/*
	 * The features, each observing the connection layer. Their observers run
	 * in this order: async insert reads the answers still pending before
	 * two-phase commit counts the writers.
	 */
	pgdist_async_insert_init();
	pgdist_read_committed_init();
	pgdist_snapshot_init();
	pgdist_twophase_init();
	pgdist_router_init();
	pgdist_key_update_init();
	pgdist_deadlock_report_init();
	pgdist_register_worker();
}

PG_FUNCTION_INFO_V1(pgdist_stats);
Datum
pgdist_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15];
	pg_atomic_uint64 *const counters[] = {
		&pgdist_shared->one_phase_commits, &pgdist_shared->two_phase_commits,
		&pgdist_shared->prepared_resolved, &pgdist_shared->deadlocks_broken,
		&pgdist_shared->orphans_terminated, NULL,
		&pgdist_shared->routed_statements, &pgdist_shared->fallback_statements,
		&pgdist_shared->lone_reads, &pgdist_shared->lone_retries,
		&pgdist_shared->folded_commands, &pgdist_shared->remote_messages,
		&pgdist_shared->consistent_snapshots, &pgdist_shared->snapshot_wait_us,
		&pgdist_shared->snapshot_pause_us
	};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* A database whose pgdist objects predate a counter declares fewer columns: it gets those. */
	if (tupdesc->natts > lengthof(values))
		elog(ERROR, "pgdist.stats() declares %d columns, pgdist.so knows %d", tupdesc->natts,
			 (int) lengthof(values));
	memset(nulls, 0, sizeof(nulls));
	for (int i = 0; i < tupdesc->natts; i++)
		values[i] = counters[i] ? Int64GetDatum((int64) pg_atomic_read_u64(counters[i]))
			: BoolGetDatum(fdwconn_active());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
