"""Catalog snapshots: what a test compares before and after a run that must change nothing."""

CLUSTER_QUERIES = dict(
    roles="""SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication,
                    rolbypassrls, rolconnlimit, rolpassword FROM pg_authid ORDER BY rolname""",
    databases="""SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype
                   FROM pg_database ORDER BY datname""",
)

DATABASE_QUERIES = dict(
    extensions="""SELECT e.extname, e.extversion, n.nspname FROM pg_extension e
                    JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1""",
    servers="""SELECT s.srvname, w.fdwname, pg_get_userbyid(s.srvowner), s.srvoptions FROM pg_foreign_server s
                 JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw ORDER BY 1""",
    mappings="SELECT srvname, usename, umoptions FROM pg_user_mappings ORDER BY 1, 2",
    relations="""SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2""",
    schemas="SELECT nspname FROM pg_namespace ORDER BY 1",
)


def snapshot(cluster, databases=('postgres',)):
    """Roles (with stored verifiers), databases and, per database, the objects our modules manage."""
    state = dict((name, cluster.query(query)) for name, query in CLUSTER_QUERIES.items())
    existing = set(row[0] for row in state['databases'])
    for database in databases:
        if database in existing:
            for name, query in DATABASE_QUERIES.items():
                state['%s/%s' % (database, name)] = cluster.query(query, dbname=database)
    return state
