/*
 * appname.h: the application_name of the remote sessions postgres_fdw
 * opens for a coordinator backend, pgdist:<system id>:<pid>:<backend start>,
 * and its reading back (deadlock detection, orphans).
 */
#ifndef PGDIST_APPNAME_H
#define PGDIST_APPNAME_H

#include "datatype/timestamp.h"

#define PGDIST_APPNAME_PREFIX "pgdist:"

extern const char *pgdist_application_name(void);
extern char *pgdist_appname_prefix(void);
extern bool pgdist_parse_owner(const char *appname, const char *prefix, int *pid, TimestampTz *start);

#endif							/* PGDIST_APPNAME_H */
