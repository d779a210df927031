/*
 * router.c: single-shard statements in fewer round trips (pgdist.router).
 *
 * The connection layer can send postgres_fdw's commands that only answer
 * "command OK" (START TRANSACTION, DECLARE, CLOSE) with the next one, in one
 * message (fold.c); this feature turns that on for sessions where
 * pgdist.router is on. The node runs the same commands in the same order,
 * so nothing changes for two-phase commit, READ COMMITTED, deadlock
 * detection or restore points: an UPDATE by the distribution key is one
 * round trip with its START, a read inside a transaction block one round
 * trip (DECLARE and FETCH) plus its CLOSE riding on the next message.
 *
 * A lone read goes further: its remote transaction (START, DECLARE, FETCH,
 * COMMIT) is one message, so a point read outside a transaction block is
 * one round trip. A statement is a lone read when the rules below prove it
 * is its node's only use in its remote transaction and that nothing of it
 * runs on the coordinator that could reach a node; each rule is named, and
 * the first that fails is logged at DEBUG1 ("pgdist router: fallback,
 * <rule>"). A statement that fails one keeps the folded path above.
 *
 *   router_off          pgdist.router is off
 *   nested              the statement runs inside another one's execution (a function)
 *   transaction_block   inside BEGIN ... COMMIT: later statements share its remote transaction
 *   isolation           not READ COMMITTED: a later statement of the transaction
 *                       (pipelined, a DO block) must see the same snapshot
 *   not_a_read          INSERT, UPDATE, DELETE, MERGE, a writing CTE, FOR UPDATE/SHARE
 *   cursor              a cursor (WITH HOLD, SCROLL): it may rescan
 *   subplans            an InitPlan or SubPlan: more statements in one
 *   scans               not exactly one foreign scan, or a node that could rescan it (a join,
 *                       a local scan, Material)
 *   local_function      a volatile or user-defined function evaluated on the coordinator: it
 *                       could run SQL on the node in the middle of the read
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "tcop/pquery.h"
#include "utils/lsyscache.h"

#include "fdwconn.h"
#include "router.h"
#include "settings.h"
#include "shared.h"

typedef enum RouterRule
{
	ROUTE_ALONE,
	RULE_ROUTER_OFF,
	RULE_NESTED,
	RULE_TRANSACTION_BLOCK,
	RULE_ISOLATION,
	RULE_NOT_A_READ,
	RULE_CURSOR,
	RULE_SUBPLANS,
	RULE_SCANS,
	RULE_LOCAL_FUNCTION
} RouterRule;

static const char *const rule_names[] = {
	"alone", "router_off", "nested", "transaction_block", "isolation", "not_a_read", "cursor",
	"subplans", "scans", "local_function"
};

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

/* Executors running in this backend (a statement started inside another's runs at depth 1 or more). */
static int	depth = 0;

/* The running statement is a lone read whose remote transaction has not gone out yet. */
static bool lone_read = false;

typedef struct PlanCheck
{
	int			foreign_scans;
	RouterRule	refused;
} PlanCheck;

/* A function the coordinator evaluates: built in and not volatile, or it could run SQL. */
static bool
refuses_function(Oid func, void *context)
{
	return func >= FirstNormalObjectId || func_volatile(func) == PROVOLATILE_VOLATILE;
}

static bool
local_function_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, refuses_function, context))
		return true;
	return expression_tree_walker(node, local_function_walker, context);
}

static bool
has_local_function(Node *node)
{
	return local_function_walker(node, NULL);
}

/* The nodes a lone read may have above its one foreign scan: none of them rescans it. */
static bool
allowed_node(NodeTag tag)
{
	switch (tag)
	{
		case T_ForeignScanState:
		case T_AppendState:
		case T_MergeAppendState:
		case T_ResultState:
		case T_LimitState:
		case T_SortState:
		case T_AggState:
		case T_UniqueState:
			return true;
		default:
			return false;
	}
}

static bool
check_planstate(PlanState *ps, void *context)
{
	PlanCheck  *check = (PlanCheck *) context;
	Plan	   *plan = ps->plan;

	if (!allowed_node(nodeTag(ps)))
	{
		check->refused = RULE_SCANS;
		return true;
	}
	if (IsA(ps, ForeignScanState) && ++check->foreign_scans > 1)
	{
		check->refused = RULE_SCANS;
		return true;
	}
	if (has_local_function((Node *) plan->targetlist) || has_local_function((Node *) plan->qual) ||
		(IsA(plan, Limit) && (has_local_function(((Limit *) plan)->limitOffset) ||
							  has_local_function(((Limit *) plan)->limitCount))) ||
		(IsA(plan, Result) && has_local_function(((Result *) plan)->resconstantqual)))
	{
		check->refused = RULE_LOCAL_FUNCTION;
		return true;
	}
	return planstate_tree_walker(ps, check_planstate, context);
}

/* Counts the foreign scans of a statement, for the fallback counter (its rule refused already). */
static bool
count_foreign_scans(PlanState *ps, void *context)
{
	if (IsA(ps, ForeignScanState))
		(*(int *) context)++;
	return planstate_tree_walker(ps, count_foreign_scans, context);
}

static RouterRule
route(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	PlanCheck	check = {0, ROUTE_ALONE};

	if (!pgdist_router)
		return RULE_ROUTER_OFF;
	if (depth > 0)
		return RULE_NESTED;
	if (IsTransactionBlock())
		return RULE_TRANSACTION_BLOCK;
	if (XactIsoLevel != XACT_READ_COMMITTED)
		return RULE_ISOLATION;
	if (queryDesc->operation != CMD_SELECT || stmt->hasModifyingCTE || stmt->rowMarks != NIL)
		return RULE_NOT_A_READ;
	if ((eflags & (EXEC_FLAG_REWIND | EXEC_FLAG_BACKWARD | EXEC_FLAG_MARK)) ||
		(ActivePortal != NULL && (ActivePortal->cursorOptions & (CURSOR_OPT_HOLD | CURSOR_OPT_SCROLL))))
		return RULE_CURSOR;
	if (stmt->subplans != NIL)
		return RULE_SUBPLANS;
	(void) check_planstate(queryDesc->planstate, &check);
	if (check.refused == ROUTE_ALONE && check.foreign_scans != 1)
		check.refused = RULE_SCANS;
	return check.refused;
}

static void
executor_start(QueryDesc *queryDesc, int eflags)
{
	RouterRule	rule;
	int			foreign_scans = 0;

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	/* Decided on the initialized plan: partitions pruned at startup are gone from it. */
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && queryDesc->planstate != NULL)
	{
		rule = route(queryDesc, eflags);
		if (rule == ROUTE_ALONE)
		{
			lone_read = true;
			pg_atomic_fetch_add_u64(&pgdist_shared->routed_statements, 1);
			elog(DEBUG1, "pgdist router: a lone read, its remote transaction in one message");
		}
		else if (rule != RULE_ROUTER_OFF &&
				 (count_foreign_scans(queryDesc->planstate, &foreign_scans), foreign_scans > 0))
		{
			pg_atomic_fetch_add_u64(&pgdist_shared->fallback_statements, 1);
			elog(DEBUG1, "pgdist router: fallback, %s", rule_names[rule]);
		}
	}
	depth++;
}

static void
executor_end(QueryDesc *queryDesc)
{
	lone_read = false;
	if (depth > 0)
		depth--;
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

static bool
may_fold(FdwConn *fc)
{
	return pgdist_router;
}

/* Asked once, at the lone read's first FETCH: the one remote transaction it may send whole. */
static bool
read_alone(FdwConn *fc)
{
	bool		alone = lone_read && pgdist_router && depth == 1;

	lone_read = false;
	return alone;
}

/* An error leaves executors without ExecutorEnd: a transaction starts at depth 0. */
static void
after_fdw_xact(XactEvent event)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
	{
		depth = 0;
		lone_read = false;
	}
}

static const FdwConnObserver observer = {
	.may_fold = may_fold,
	.read_alone = read_alone,
	.after_fdw_xact = after_fdw_xact,
};

void
pgdist_router_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = executor_start;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = executor_end;
	fdwconn_observe(&observer);
}
