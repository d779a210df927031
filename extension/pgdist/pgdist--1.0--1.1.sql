-- pgdist 1.0 -> 1.1: what monitoring may read without superuser. pg_monitor (PostgreSQL's role for monitoring
-- tools: a monitoring login is granted it) may call the functions that only read: the counters, the in-doubt
-- prepared transactions on every node (which read the commit records to say what recovery will do) and the lock
-- waits across nodes. Those two reach the shards with the caller's user mapping, as postgres_fdw would. The
-- functions that act (recover_prepared, detect_deadlocks, terminate_orphans, create_restore_point) stay
-- superuser-only. A new CREATE EXTENSION runs pgdist--1.0.sql and then this file.
\echo Use "ALTER EXTENSION pgdist UPDATE TO '1.1'" to load this file. \quit

GRANT USAGE ON SCHEMA @extschema@ TO pg_monitor;
GRANT EXECUTE ON FUNCTION stats(), prepared_transactions(), lock_waits(interval) TO pg_monitor;
GRANT SELECT ON commit_records TO pg_monitor;
