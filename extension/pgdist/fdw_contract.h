/*
 * fdw_contract.h: what pgdist relies on in postgres_fdw, in one place.
 *
 * The connection layer (fdwconn.c) recognises postgres_fdw's remote
 * transactions by these texts. Anything postgres_fdw sends that is not one
 * of them counts as a write; a commit that does not go as below is refused
 * (fdwconn.c, twophase.c), never let through.
 */
#ifndef PGDIST_FDW_CONTRACT_H
#define PGDIST_FDW_CONTRACT_H

/* begin_remote_xact(): the start of every remote transaction (PQsendQuery) */
#define FDW_START_PREFIX "START TRANSACTION ISOLATION LEVEL "
#define FDW_START_REPEATABLE_READ FDW_START_PREFIX "REPEATABLE READ"
#define FDW_START_SERIALIZABLE FDW_START_PREFIX "SERIALIZABLE"

/* pgfdw_xact_callback() at XACT_EVENT_PRE_COMMIT: the commit of each remote transaction (PQsendQuery) */
#define FDW_COMMIT "COMMIT TRANSACTION"

/* Commands that neither write nor end a remote transaction: connection setup, scans, savepoints, cleanup. */
#define FDW_READ_PREFIXES \
	"SELECT ", "DECLARE ", "FETCH ", "MOVE ", "CLOSE ", "EXPLAIN ", "SET ", "SAVEPOINT ", \
	"RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ", "DEALLOCATE ", "ABORT TRANSACTION"

#endif							/* PGDIST_FDW_CONTRACT_H */
