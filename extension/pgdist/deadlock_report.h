/*
 * deadlock_report.h: what a cancelled deadlock victim is told (deadlock_report.c).
 */
#ifndef PGDIST_DEADLOCK_REPORT_H
#define PGDIST_DEADLOCK_REPORT_H

#include "datatype/timestamp.h"

extern void pgdist_deadlock_report_init(void);
extern bool pgdist_deadlock_report_post(int pid, TimestampTz backend_start, const char *message);

#endif							/* PGDIST_DEADLOCK_REPORT_H */
