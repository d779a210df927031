/*
 * settings.h: pgdist's settings (pgdist.*), defined in settings.c.
 */
#ifndef PGDIST_SETTINGS_H
#define PGDIST_SETTINGS_H

extern bool pgdist_two_phase_commit;
extern bool pgdist_read_committed;
extern bool pgdist_async_insert;
extern bool pgdist_refuse_key_updates;
extern bool pgdist_router;
extern char *pgdist_database;
extern int	pgdist_deadlock_check_interval;
extern int	pgdist_recovery_interval;
extern int	pgdist_frozen_backend_timeout;
extern int	pgdist_commit_timeout;
extern bool pgdist_allow_unverified_major;

/* pgdist.consistent_reads: which reads take their snapshots on every node at one cut (snapshot.c). */
typedef enum ConsistentReads
{
	CONSISTENT_READS_OFF,
	CONSISTENT_READS_REPEATABLE_READ,	/* REPEATABLE READ and SERIALIZABLE transactions */
	CONSISTENT_READS_ALL		/* those, and single READ COMMITTED statements reading several nodes */
} ConsistentReads;

extern int	pgdist_consistent_reads;
extern int	pgdist_consistent_reads_timeout;

/* pgdist.test_contract_break: for tests only, postgres_fdw as if it broke what pgdist relies on. */
typedef enum ContractBreak
{
	CONTRACT_BREAK_OFF,
	CONTRACT_BREAK_COMMIT_TEXT, /* pgdist expects another commit text than postgres_fdw's */
	CONTRACT_BREAK_CALLBACK_ORDER,	/* pgdist's pre-commit callback does not run before postgres_fdw's */
	CONTRACT_BREAK_PREPARE_ANSWER	/* the nodes' answers to PREPARE TRANSACTION go unseen */
} ContractBreak;

extern int	pgdist_test_contract_break;

extern void pgdist_define_settings(void);

#endif							/* PGDIST_SETTINGS_H */
