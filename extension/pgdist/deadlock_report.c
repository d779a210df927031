/*
 * deadlock_report.c: the cancel that breaks a distributed deadlock reaches
 * its victim as a deadlock error naming the cycle.
 *
 * The detector posts the cycle in a shared slot for the victim's pid and
 * backend start, then cancels it; the victim's emit_log hook turns its
 * "canceling statement" into SQLSTATE 40P01 with that message. A slot left
 * unread is cleared at the end of the victim's transaction, so a cancel
 * meant for it never hits the next one.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/elog.h"

#include "deadlock_report.h"
#include "shared.h"

static emit_log_hook_type prev_emit_log_hook = NULL;

/* Leaves message for the backend pid started at backend_start; false when every slot is taken. */
bool
pgdist_deadlock_report_post(int pid, TimestampTz backend_start, const char *message)
{
	int			slot = -1;

	SpinLockAcquire(&pgdist_shared->mutex);
	for (int i = 0; i < PGDIST_DEADLOCK_SLOTS && slot < 0; i++)
		if (pgdist_shared->slots[i].pid == 0 || pgdist_shared->slots[i].pid == pid)
			slot = i;
	if (slot >= 0)
	{
		pgdist_shared->slots[slot].pid = pid;
		pgdist_shared->slots[slot].backend_start = backend_start;
		strlcpy(pgdist_shared->slots[slot].message, message, PGDIST_MESSAGE_LEN);
	}
	SpinLockRelease(&pgdist_shared->mutex);
	return slot >= 0;
}

/* Error reporting of the victim: the cancel becomes a deadlock error that names the cycle. */
static void
emit_log(ErrorData *edata)
{
	char		message[PGDIST_MESSAGE_LEN];
	bool		found = false;

	if (edata->elevel == ERROR && edata->sqlerrcode == ERRCODE_QUERY_CANCELED && pgdist_shared != NULL)
	{
		SpinLockAcquire(&pgdist_shared->mutex);
		for (int i = 0; i < PGDIST_DEADLOCK_SLOTS && !found; i++)
		{
			DeadlockSlot *slot = &pgdist_shared->slots[i];

			if (slot->pid == MyProcPid && slot->backend_start == MyStartTimestamp)
			{
				strlcpy(message, slot->message, sizeof(message));
				slot->pid = 0;
				found = true;
			}
		}
		SpinLockRelease(&pgdist_shared->mutex);
	}
	if (found)
	{
		edata->sqlerrcode = ERRCODE_T_R_DEADLOCK_DETECTED;
		edata->message = pstrdup("canceling the transaction: distributed deadlock detected");
		edata->detail = pstrdup(message);
		edata->hint = pstrdup("This transaction was the youngest in the cycle. Retry it.");
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* At the end of every transaction: a cancel meant for it must not hit the next one. */
static void
clear_own_slot(XactEvent event, void *arg)
{
	if (pgdist_shared == NULL ||
		!(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE))
		return;
	for (int i = 0; i < PGDIST_DEADLOCK_SLOTS; i++)
	{
		DeadlockSlot *slot = &pgdist_shared->slots[i];

		/* An unlocked read is enough to know there is nothing of ours. */
		if (slot->pid != MyProcPid)
			continue;
		SpinLockAcquire(&pgdist_shared->mutex);
		if (slot->pid == MyProcPid)
			slot->pid = 0;
		SpinLockRelease(&pgdist_shared->mutex);
	}
}

void
pgdist_deadlock_report_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = emit_log;
	RegisterXactCallback(clear_own_slot, NULL);
}
