-- pgdist 1.0: functions of the coordinator extension (pgdist.so must be in shared_preload_libraries).
\echo Use "CREATE EXTENSION pgdist" to load this file. \quit

-- One row per transaction committed in two phases, written in that transaction: the decision recovery
-- reads to finish what a crash or a lost connection left prepared on a node. Recovery deletes rows once
-- no node holds a prepared transaction for them.
CREATE TABLE commit_records (
  transaction text PRIMARY KEY,
  decided_at timestamptz NOT NULL
);
REVOKE ALL ON commit_records FROM PUBLIC;

CREATE FUNCTION stats(OUT one_phase_commits bigint, OUT two_phase_commits bigint,
                      OUT prepared_resolved bigint, OUT deadlocks_broken bigint,
                      OUT orphans_terminated bigint, OUT shim_active boolean,
                      OUT routed_statements bigint, OUT fallback_statements bigint,
                      OUT lone_reads bigint, OUT lone_retries bigint,
                      OUT folded_commands bigint, OUT remote_messages bigint,
                      OUT consistent_snapshots bigint, OUT snapshot_wait_us bigint,
                      OUT snapshot_pause_us bigint)
RETURNS record AS 'MODULE_PATHNAME', 'pgdist_stats' LANGUAGE C STRICT;
COMMENT ON FUNCTION stats() IS 'Counters since the server started; shim_active: this session''s postgres_fdw connections go through pgdist; routed/fallback: reads the router sent alone (one round trip) or not; folded_commands: postgres_fdw''s commands sent in another''s message; remote_messages: messages sent on postgres_fdw''s connections; consistent_snapshots: reads whose snapshots were taken on every node at once, snapshot_wait_us their time waiting for two-phase commits in progress, snapshot_pause_us their time holding two-phase commits back';

CREATE FUNCTION prepared_transactions(OUT server text, OUT gid text, OUT prepared timestamptz,
                                      OUT owner text, OUT coordinator_outcome text)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pgdist_prepared_transactions' LANGUAGE C STRICT;
COMMENT ON FUNCTION prepared_transactions() IS 'Prepared transactions of this coordinator on every node, with the outcome recovery will give them';

CREATE FUNCTION recover_prepared() RETURNS integer
AS 'MODULE_PATHNAME', 'pgdist_recover_prepared' LANGUAGE C STRICT;
COMMENT ON FUNCTION recover_prepared() IS 'Finishes the prepared transactions whose local outcome is known; returns how many';

CREATE FUNCTION detect_deadlocks() RETURNS integer
AS 'MODULE_PATHNAME', 'pgdist_detect_deadlocks' LANGUAGE C STRICT;
COMMENT ON FUNCTION detect_deadlocks() IS 'One deadlock detection pass (a cycle is broken when seen by two passes in a row); returns the transactions cancelled';

CREATE FUNCTION lock_waits(min_wait interval DEFAULT '1 second', OUT waiting_pid integer,
                           OUT blocked_by text, OUT location text, OUT waited_seconds float8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pgdist_lock_waits' LANGUAGE C STRICT;
COMMENT ON FUNCTION lock_waits(interval) IS 'Coordinator backends waiting at least min_wait for a lock, on this node or a shard, with who holds it';

CREATE FUNCTION terminate_orphans() RETURNS integer
AS 'MODULE_PATHNAME', 'pgdist_terminate_orphans' LANGUAGE C STRICT;
COMMENT ON FUNCTION terminate_orphans() IS 'Terminates remote sessions whose coordinator backend is gone or stopped; returns how many';

CREATE FUNCTION create_restore_point(name text, OUT node text, OUT lsn pg_lsn, OUT commits_paused_ms float8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pgdist_create_restore_point' LANGUAGE C STRICT;
COMMENT ON FUNCTION create_restore_point(text) IS 'A named restore point on every node, consistent across them';

REVOKE ALL ON FUNCTION stats(), prepared_transactions(), recover_prepared(), detect_deadlocks(),
  lock_waits(interval), terminate_orphans(), create_restore_point(text) FROM PUBLIC;
