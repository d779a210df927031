/*
 * fdw_contract.c: at load, pgdist refuses to start where its contract with
 * postgres_fdw (fdw_contract.h) is known not to hold: on a major the
 * extension suite has not passed on (unless pgdist.allow_unverified_major),
 * and when postgres_fdw's library lacks a text pgdist recognises, lacks a
 * libpq function pgdist takes the place of, or names one that would pass
 * it by. The library is read once, from the server's pkglibdir, where
 * CREATE EXTENSION postgres_fdw loads it from ($libdir/postgres_fdw).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"

#include "fdw_contract.h"
#include "settings.h"

/* pg_config.h defines it from 15 on; before, only the files that load libraries got it. ELF only (README). */
#ifndef DLSUFFIX
#define DLSUFFIX ".so"
#endif

#define PG_MAJOR (PG_VERSION_NUM / 10000)

static const int verified_majors[] = {PGDIST_VERIFIED_MAJORS};
static const char *const library_texts[] = {FDW_LIBRARY_TEXTS};
static const char *const interposed[] = {FDW_INTERPOSED_FUNCTIONS};
static const char *const bypassing[] = {FDW_BYPASSING_FUNCTIONS};

static char *
verified_list(void)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < lengthof(verified_majors); i++)
		appendStringInfo(&list, "%s%d", i ? ", " : "", verified_majors[i]);
	return list.data;
}

static void
check_major(void)
{
	for (int i = 0; i < lengthof(verified_majors); i++)
		if (verified_majors[i] == PG_MAJOR)
			return;
	if (pgdist_allow_unverified_major)
	{
		ereport(WARNING,
				(errmsg("pgdist runs on PostgreSQL %d, where its contract with postgres_fdw is not verified",
						PG_MAJOR),
				 errdetail("pgdist.allow_unverified_major is on; verified: PostgreSQL %s.", verified_list())));
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("pgdist is not verified on PostgreSQL %d", PG_MAJOR),
			 errdetail("It relies on how postgres_fdw commits (fdw_contract.h), verified on PostgreSQL %s.",
					   verified_list()),
			 errhint("Set pgdist.allow_unverified_major = on to start it anyway, or remove pgdist from shared_preload_libraries.")));
}

/* True when the file holds text as a whole string (its bytes and a NUL): a literal, or a name libpq exports. */
static bool
holds(const char *data, size_t size, const char *text)
{
	size_t		len = strlen(text) + 1;
	const char *p = data;
	const char *end = data + size;

	while (end - p >= (ptrdiff_t) len && (p = memchr(p, text[0], end - p - len + 1)) != NULL)
	{
		if (memcmp(p, text, len) == 0)
			return true;
		p++;
	}
	return false;
}

static void
refuse(const char *path, const char *what, const char *text)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("pgdist: postgres_fdw of PostgreSQL %d (%s) %s \"%s\"", PG_MAJOR, path, what, text),
			 errdetail("pgdist recognises postgres_fdw's commits by what fdw_contract.h lists; here that does not hold, and two-phase commit could not be guaranteed."),
			 errhint("Remove pgdist from shared_preload_libraries, or use a postgres_fdw that matches this server.")));
}

static void
check_library(void)
{
	char		path[MAXPGPATH];
	FILE	   *file;
	char	   *data;
	long		size;

	snprintf(path, sizeof(path), "%s/postgres_fdw%s", pkglib_path, DLSUFFIX);
	if ((file = AllocateFile(path, PG_BINARY_R)) == NULL ||
		fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) <= 0 || fseek(file, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("pgdist: could not read postgres_fdw's library \"%s\": %m", path),
				 errhint("Install postgres_fdw (PostgreSQL's contrib) for PostgreSQL %d.", PG_MAJOR)));
	data = palloc(size);
	if (fread(data, 1, size, file) != (size_t) size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("pgdist: could not read postgres_fdw's library \"%s\": %m", path)));
	FreeFile(file);
	for (int i = 0; i < lengthof(library_texts); i++)
		if (!holds(data, size, library_texts[i]))
			refuse(path, "does not send", library_texts[i]);
	for (int i = 0; i < lengthof(interposed); i++)
		if (!holds(data, size, interposed[i]))
			refuse(path, "does not call the libpq function", interposed[i]);
	for (int i = 0; i < lengthof(bypassing); i++)
		if (holds(data, size, bypassing[i]))
			refuse(path, "calls the libpq function", bypassing[i]);
	pfree(data);
}

void
pgdist_check_fdw_contract(void)
{
	check_major();
	check_library();
}
