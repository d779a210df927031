/*
 * appname.c: the name of a remote session says which coordinator backend
 * owns it: pgdist:<system id>:<pid>:<backend start>. The start time tells a
 * reused pid from the backend that opened the session.
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"

#include "appname.h"

/* This backend's name for its remote sessions. */
const char *
pgdist_application_name(void)
{
	static char name[NAMEDATALEN];

	if (name[0] == '\0')
		snprintf(name, sizeof(name), PGDIST_APPNAME_PREFIX "%llu:%d:%llx",
				 (unsigned long long) GetSystemIdentifier(), MyProcPid,
				 (unsigned long long) MyStartTimestamp);
	return name;
}

/* pgdist:<system id>: the start of every session name of this coordinator. */
char *
pgdist_appname_prefix(void)
{
	return psprintf(PGDIST_APPNAME_PREFIX "%llu:", (unsigned long long) GetSystemIdentifier());
}

/* The coordinator backend named by a remote session's application_name. */
bool
pgdist_parse_owner(const char *appname, const char *prefix, int *pid, TimestampTz *start)
{
	unsigned long long s;
	int			used = 0;

	if (strncmp(appname, prefix, strlen(prefix)) != 0 ||
		sscanf(appname + strlen(prefix), "%d:%llx%n", pid, &s, &used) != 2 ||
		appname[strlen(prefix) + used] != '\0')
		return false;
	*start = (TimestampTz) s;
	return true;
}
