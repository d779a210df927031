/*
 * settings.c: pgdist's settings. Each feature reads its own; they are all
 * defined here, once, at load, so the pgdist prefix can be reserved after
 * the last of them.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "settings.h"

bool		pgdist_two_phase_commit = true;
bool		pgdist_read_committed = true;
bool		pgdist_async_insert = true;
bool		pgdist_refuse_key_updates = true;
bool		pgdist_router = true;
char	   *pgdist_database = NULL;
int			pgdist_deadlock_check_interval = 2000;
int			pgdist_recovery_interval = 10000;
int			pgdist_frozen_backend_timeout = 20;
int			pgdist_commit_timeout = 10000;
bool		pgdist_allow_unverified_major = false;
int			pgdist_test_contract_break = CONTRACT_BREAK_OFF;
int			pgdist_consistent_reads = CONSISTENT_READS_REPEATABLE_READ;
int			pgdist_consistent_reads_timeout = 1000;

static const struct config_enum_entry consistent_reads[] = {
	{"off", CONSISTENT_READS_OFF, false},
	{"repeatable_read", CONSISTENT_READS_REPEATABLE_READ, false},
	{"all", CONSISTENT_READS_ALL, false},
	{NULL, 0, false}
};

static const struct config_enum_entry contract_breaks[] = {
	{"off", CONTRACT_BREAK_OFF, false},
	{"commit_text", CONTRACT_BREAK_COMMIT_TEXT, false},
	{"callback_order", CONTRACT_BREAK_CALLBACK_ORDER, false},
	{"prepare_answer", CONTRACT_BREAK_PREPARE_ANSWER, false},
	{NULL, 0, false}
};

void
pgdist_define_settings(void)
{
	DefineCustomBoolVariable("pgdist.two_phase_commit",
							 "Commits transactions that wrote on several nodes with two-phase commit.",
							 NULL, &pgdist_two_phase_commit, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.read_committed",
							 "Runs the remote transactions of READ COMMITTED transactions at READ COMMITTED.",
							 "Off keeps postgres_fdw's REPEATABLE READ for them.",
							 &pgdist_read_committed, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.async_insert",
							 "Sends the later batches of an INSERT into a foreign table without waiting for each answer.",
							 "Each answer is read before the next command on its connection; off waits for every batch.",
							 &pgdist_async_insert, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.refuse_key_updates",
							 "Refuses UPDATEs that assign a column deciding the placement of a foreign partition.",
							 "PostgreSQL does not move such rows out of a foreign table; off lets the shard decide.",
							 &pgdist_refuse_key_updates, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.router",
							 "Sends postgres_fdw's commands that only answer \"command OK\" with the next one, and a lone read's remote transaction in one message.",
							 "Off sends every command of postgres_fdw's in its own round trip, as without pgdist.",
							 &pgdist_router, true, PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pgdist.consistent_reads",
							 "Takes the snapshots of a read on every node at one moment, when no two-phase commit is half done.",
							 "repeatable_read: REPEATABLE READ and SERIALIZABLE transactions; all: also single READ COMMITTED "
							 "statements that read several nodes; off: each node's snapshot at its own moment.",
							 &pgdist_consistent_reads, CONSISTENT_READS_REPEATABLE_READ, consistent_reads, PGC_USERSET,
							 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.consistent_reads_timeout",
							"How long a consistent read waits for the two-phase commits in progress, and for the nodes' snapshots.",
							"Past it the read fails (lock timeout); two-phase commits wait behind a waiting read, so this bounds their pause too.",
							&pgdist_consistent_reads_timeout, 1000, 1, 600000, PGC_USERSET,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("pgdist.database",
							   "Database whose foreign servers the pgdist maintenance worker looks after.",
							   NULL, &pgdist_database, "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.deadlock_check_interval",
							"Time between two looks for cross-node deadlocks (0 turns detection off).",
							NULL, &pgdist_deadlock_check_interval, 2000, 0, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.recovery_interval",
							"Time between two passes over prepared transactions and orphaned sessions (0 turns them off).",
							NULL, &pgdist_recovery_interval, 10000, 0, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.frozen_backend_timeout",
							"How long a stopped coordinator backend keeps its remote sessions.",
							NULL, &pgdist_frozen_backend_timeout, 20, 1, 86400, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pgdist.commit_timeout",
							"How long a commit waits for a node to confirm COMMIT PREPARED.",
							"Past it the commit returns and recovery finishes the node's part.",
							&pgdist_commit_timeout, 10000, 100, 3600000, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgdist.allow_unverified_major",
							 "Starts pgdist on a PostgreSQL major its contract with postgres_fdw is not verified on.",
							 "The checks of postgres_fdw's library still apply; see fdw_contract.h.",
							 &pgdist_allow_unverified_major, false, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pgdist.test_contract_break",
							 "For tests only: pgdist sees postgres_fdw break what pgdist relies on, and must refuse the commit.",
							 "commit_text: another commit text is expected; callback_order: the pre-commit callback is not "
							 "registered in this session; prepare_answer: the answers to PREPARE TRANSACTION go unseen.",
							 &pgdist_test_contract_break, CONTRACT_BREAK_OFF, contract_breaks, PGC_SUSET,
							 GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pgdist");
#else
	EmitWarningsOnPlaceholders("pgdist");
#endif
}
