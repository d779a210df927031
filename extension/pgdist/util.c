/*
 * util.c: hash tables, set-returning functions and the list of
 * postgres_fdw's foreign servers, for every unit of pgdist.
 */
#include "postgres.h"

#include <dlfcn.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_foreign_server.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "util.h"

/* A hash table of fixed-size binary keys in context. */
HTAB *
pgdist_hash(const char *name, long size, Size keysize, Size entrysize, MemoryContext context)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = context;
	return hash_create(name, size, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Set-returning functions fill a tuplestore (InitMaterializedSRF from PostgreSQL 15 on). */
void
pgdist_materialize(FunctionCallInfo fcinfo)
{
#if PG_VERSION_NUM >= 150000
	InitMaterializedSRF(fcinfo, 0);
#else
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(old);
#endif
}

/* Every foreign server of postgres_fdw in the current database (ForeignServer *), in catalog order. */
List *
pgdist_fdw_servers(void)
{
	ForeignDataWrapper *fdw = GetForeignDataWrapperByName("postgres_fdw", true);
	List	   *servers = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;

	if (fdw == NULL)
		return NIL;
	rel = table_open(ForeignServerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_foreign_server form = (Form_pg_foreign_server) GETSTRUCT(tuple);

		if (form->srvfdw == fdw->fdwid)
			servers = lappend(servers, GetForeignServer(form->oid));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return servers;
}

/* libpq's own definition of name: the next one after pgdist.so's in the lookup order (pgdist.so links libpq). */
void *
pgdist_libpq_symbol(const char *name)
{
	void	   *symbol = dlsym(RTLD_NEXT, name);

	if (symbol == NULL)
		elog(FATAL, "pgdist: libpq has no %s: %s", name, dlerror());
	return symbol;
}

/* pfree()s *text, if any, and forgets it. */
void
pgdist_free_text(char **text)
{
	if (*text != NULL)
		pfree(*text);
	*text = NULL;
}
