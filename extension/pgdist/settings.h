/*
 * settings.h: pgdist's settings (pgdist.*), defined in settings.c.
 */
#ifndef PGDIST_SETTINGS_H
#define PGDIST_SETTINGS_H

extern bool pgdist_two_phase_commit;
extern bool pgdist_read_committed;
extern bool pgdist_async_insert;
extern char *pgdist_database;
extern int	pgdist_deadlock_check_interval;
extern int	pgdist_recovery_interval;
extern int	pgdist_frozen_backend_timeout;
extern int	pgdist_commit_timeout;

extern void pgdist_define_settings(void);

#endif							/* PGDIST_SETTINGS_H */
