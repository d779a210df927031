/*
 * prepared.c: postgres_fdw's prepared statements run once, sent as one
 * simple-protocol command.
 *
 * postgres_fdw sends every INSERT, and every UPDATE or DELETE it cannot push
 * down whole, as a prepared statement: PREPARE, one execution per row or
 * batch, DEALLOCATE at the end of the statement, a round trip each, and the
 * START TRANSACTION kept by fold.c cannot share a message with a PREPARE or
 * an execution with parameters. An OLTP INSERT of one row through the
 * coordinator thus costs four round trips where the shard's work is one
 * insert.
 *
 * With folding on, the PREPARE is answered "command OK" here and kept. Its
 * first execution is sent as the statement's text with each $n replaced by
 * its value as a quoted literal (PQescapeLiteral, for the connection's
 * settings): the node runs the same statement with the same values, an
 * untyped parameter and a quoted literal take their type from the same
 * context, and the command travels like any other simple one, with the
 * START kept ahead of it. Its DEALLOCATE, when that was the only
 * execution, is answered here. A second execution prepares the statement
 * on the node first (today's round trip), so a bulk load still parses each
 * batch once. What cannot be shown as literals (binary values, more than
 * PREPARED_MAX_INLINE_PARAMS parameters or PREPARED_MAX_INLINE_BYTES of
 * values, a text this scanner does not know: comments, dollar quotes) is
 * prepared on the node at its first execution instead.
 *
 * The same text with values serves postgres_fdw's commands sent with
 * parameters (a generic plan's DECLARE, a pushed-down UPDATE by a
 * parameter): as simple commands they fold like those of a custom plan, and
 * a read pinned by a parameter is a lone read.
 */
#include "postgres.h"

#include <ctype.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "fdw_contract.h"
#include "prepared.h"
#include "util.h"

static const char *const write_texts[] = {FDW_WRITE_TEXTS, NULL};

void
prepared_reset(PreparedState *ps)
{
	ps->phase = PREPARED_NONE;
	pgdist_free_text(&ps->name);
	pgdist_free_text(&ps->sql);
}

/* Keeps postgres_fdw's PREPARE of a write, untyped as it always prepares, when none is kept on the connection. */
bool
prepared_defer(PreparedState *ps, const char *name, const char *sql, int nParams, const Oid *paramTypes)
{
	bool		write = false;

	if (ps->phase != PREPARED_NONE || name == NULL || name[0] == '\0' || nParams != 0 || paramTypes != NULL)
		return false;
	for (const char *const *text = write_texts; *text != NULL; text++)
		write = write || strncmp(sql, *text, strlen(*text)) == 0;
	if (!write)
		return false;
	ps->name = MemoryContextStrdup(TopMemoryContext, name);
	ps->sql = MemoryContextStrdup(TopMemoryContext, sql);
	ps->phase = PREPARED_DEFERRED;
	return true;
}

/* Is name the statement kept here (its PREPARE answered, not on the node)? */
bool
prepared_kept(const PreparedState *ps, const char *name)
{
	return ps->phase != PREPARED_NONE && name != NULL && strcmp(ps->name, name) == 0;
}

static bool
identifier_char(char c)
{
	return isalnum((unsigned char) c) || c == '_' || c == '$' || IS_HIGHBIT_SET(c);
}

/* The end of the quoted string or identifier at p (quote its first character), NULL if unterminated. */
static const char *
quoted_end(const char *p, char quote, bool backslash_escapes)
{
	for (p++; *p != '\0'; p++)
	{
		if (backslash_escapes && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == quote && p[1] == quote)
			p++;
		else if (*p == quote)
			return p + 1;
	}
	return NULL;
}

/*
 * sql with each $n replaced by its value as a quoted literal (palloc'd), or
 * NULL when the values cannot be shown so.
 */
char *
prepared_with_values(PGconn *conn, const char *sql, int nParams, const char *const *values, const int *formats)
{
	StringInfoData out;
	size_t		bytes = 0;
	const char *p = sql;

	if (nParams > PREPARED_MAX_INLINE_PARAMS)
		return NULL;
	for (int i = 0; i < nParams; i++)
	{
		if (formats != NULL && formats[i] != 0)
			return NULL;
		bytes += values[i] != NULL ? strlen(values[i]) : 0;
	}
	if (bytes > PREPARED_MAX_INLINE_BYTES)
		return NULL;

	initStringInfo(&out);
	while (*p != '\0')
	{
		bool		word_start = p == sql || !identifier_char(p[-1]);

		if (*p == '\'' || *p == '"')
		{
			bool		escapes = *p == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
				(p - 1 == sql || !identifier_char(p[-2]));
			const char *end = quoted_end(p, *p, escapes);

			if (end == NULL)
				break;
			appendBinaryStringInfo(&out, p, end - p);
			p = end;
		}
		else if (*p == '$' && word_start && isdigit((unsigned char) p[1]))
		{
			char	   *end;
			long		n = strtol(p + 1, &end, 10);
			char	   *literal;

			if (n < 1 || n > nParams)
				break;
			if (values[n - 1] == NULL)
				appendStringInfoString(&out, "NULL");
			else if ((literal = PQescapeLiteral(conn, values[n - 1], strlen(values[n - 1]))) != NULL)
			{
				appendStringInfoString(&out, literal);
				PQfreemem(literal);
			}
			else
				break;
			p = end;
		}
		else if ((*p == '$' && word_start) || (p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*'))
			break;				/* a dollar quote or a comment: not postgres_fdw's deparsing */
		else
			appendStringInfoChar(&out, *p++);
	}
	if (*p != '\0')
	{
		pfree(out.data);
		return NULL;
	}
	return out.data;
}

/*
 * The kept statement's text with its values for its first execution
 * (palloc'd), or NULL when it must be prepared on the node. Marks the
 * statement as not on the node.
 */
char *
prepared_inline(PGconn *conn, PreparedState *ps, int nParams, const char *const *values, const int *formats)
{
	char	   *sql;

	if (ps->phase != PREPARED_DEFERRED ||
		(sql = prepared_with_values(conn, ps->sql, nParams, values, formats)) == NULL)
		return NULL;
	ps->phase = PREPARED_INLINED;
	return sql;
}

/* Is sql postgres_fdw's DEALLOCATE of the statement kept here (nothing to deallocate on the node)? */
bool
prepared_deallocates_kept(const PreparedState *ps, const char *sql)
{
	static const char prefix[] = "DEALLOCATE ";

	return ps->phase != PREPARED_NONE && strncmp(sql, prefix, strlen(prefix)) == 0 &&
		strcmp(sql + strlen(prefix), ps->name) == 0;
}
