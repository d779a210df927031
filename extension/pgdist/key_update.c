/*
 * key_update.c: refuse an UPDATE that assigns the partition key of a foreign
 * partition, at planning, before anything runs.
 *
 * PostgreSQL moves a row whose partition key changes between local
 * partitions only. A foreign partition's row is updated in place, on its
 * shard (postgres_fdw sends the UPDATE as it is), and PostgreSQL checks
 * neither the partition bound nor the CHECK constraints of a foreign table.
 * Unless the shard table refuses it, the row stays where it was with a key
 * of another partition, hidden from every query pruned to the partition its
 * new key names. Citus refuses such updates of its distribution column; so
 * do we, for every foreign table among the rows the UPDATE may touch:
 *   - a declarative partition: the columns of its partition constraint
 *     (which includes its ancestors' keys);
 *   - a child by inheritance (the seeds' layout): the columns of its CHECK
 *     constraints, which constraint exclusion trusts to prune it.
 * SET key = key assigns nothing new. A foreign partition with the row mover
 * trigger of pgdist.cluster (key_update: move) moves such rows itself and is
 * let through. The check runs in planner_hook, after the rewriter, so updates
 * through views, rules, CTEs, prepared statements and functions are seen.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "key_update.h"
#include "settings.h"

/* The BEFORE UPDATE row trigger of key_update: move (plugins/module_utils/partitioning/layout.py). */
#define MOVER_TRIGGER "pgdist_move"

static planner_hook_type prev_planner_hook = NULL;

/* Names of the columns an UPDATE sets to something other than themselves. */
static List *
assigned_columns(Query *query, Relation target)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = (TargetEntry *) lfirst(lc);
		Var		   *var = (Var *) tle->expr;

		if (tle->resjunk)
			continue;
		if (IsA(var, Var) && var->varno == query->resultRelation && var->varlevelsup == 0 &&
			var->varattno == tle->resno)
			continue;
		names = lappend(names, NameStr(TupleDescAttr(RelationGetDescr(target), tle->resno - 1)->attname));
	}
	return names;
}

static bool
has_mover(Relation rel)
{
	TriggerDesc *triggers = rel->trigdesc;

	for (int i = 0; triggers != NULL && i < triggers->numtriggers; i++)
	{
		Trigger    *trigger = &triggers->triggers[i];

		if (strcmp(trigger->tgname, MOVER_TRIGGER) == 0 && trigger->tgenabled != TRIGGER_DISABLED &&
			TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
			TRIGGER_FOR_UPDATE(trigger->tgtype))
			return true;
	}
	return false;
}

/* The attribute numbers of rel its placement depends on (see the file comment). */
static Bitmapset *
placement_columns(Relation rel)
{
	Bitmapset  *columns = NULL;

	if (rel->rd_rel->relispartition)
		pull_varattnos((Node *) RelationGetPartitionQual(rel), 1, &columns);
	else if (rel->rd_att->constr != NULL)
	{
		for (int i = 0; i < rel->rd_att->constr->num_check; i++)
		{
			ConstrCheck *check = &rel->rd_att->constr->check[i];

			if (check->ccvalid)
				pull_varattnos(stringToNode(check->ccbin), 1, &columns);
		}
	}
	return columns;
}

/* ERROR when the UPDATE assigns (by name) a column the placement of foreign table relid depends on. */
static void
check_foreign_table(Oid relid, List *assigned, const char *target)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Bitmapset  *columns = placement_columns(rel);
	ListCell   *lc;

	if (!bms_is_empty(columns) && !has_mover(rel))
	{
		foreach(lc, assigned)
		{
			const char *name = (const char *) lfirst(lc);
			AttrNumber	attnum = get_attnum(relid, name);

			if (attnum == InvalidAttrNumber ||
				!bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, columns))
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("pgdist: UPDATE of column \"%s\" of %s is refused: it decides the placement of foreign table %s",
							name, target, quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
																	 RelationGetRelationName(rel))),
					 errdetail("PostgreSQL neither moves a row whose key changes out of a foreign table nor checks it there: "
							   "the row would stay on its shard, hidden from queries pruned to the partition its new key names."),
					 rel->rd_rel->relispartition ?
					 errhint("Delete the row and insert it with the new key, or set key_update: move for the table "
							 "(pgdist.cluster.partitioned_table), which moves such rows.") :
					 errhint("With partitioning: inheritance rows are routed on INSERT only: delete the row and insert it "
							 "with the new key.")));
		}
	}
	table_close(rel, NoLock);
}

static void
check_update(Query *query)
{
	RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);
	Relation	target = table_open(rte->relid, NoLock);	/* locked by the parser or rewriter */
	List	   *assigned = assigned_columns(query, target);
	char	   *label = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(target)),
												   RelationGetRelationName(target));
	char		kind = target->rd_rel->relkind;
	bool		has_children = rte->inh && target->rd_rel->relhassubclass;

	table_close(target, NoLock);
	if (assigned == NIL)
		return;
	if (kind == RELKIND_FOREIGN_TABLE)
		check_foreign_table(rte->relid, assigned, label);
	if (has_children)
	{
		List	   *descendants = find_all_inheritors(rte->relid, AccessShareLock, NULL);
		ListCell   *lc;

		foreach(lc, descendants)
		{
			Oid			child = lfirst_oid(lc);

			if (child != rte->relid && get_rel_relkind(child) == RELKIND_FOREIGN_TABLE)
				check_foreign_table(child, assigned, label);
		}
	}
}

/* Data-modifying statements sit at the top level or in its WITH list. */
static void
check_query(Query *query)
{
	ListCell   *lc;

	if (query->commandType == CMD_UPDATE && query->resultRelation > 0)
		check_update(query);
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = (CommonTableExpr *) lfirst(lc);

		if (IsA(cte->ctequery, Query))
			check_query((Query *) cte->ctequery);
	}
}

static PlannedStmt *
key_update_planner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (pgdist_refuse_key_updates)
		check_query(parse);
	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

void
pgdist_key_update_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = key_update_planner;
}
