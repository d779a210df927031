"""A database on a coordinator and its shards, with postgres_fdw servers and superuser mappings."""

from support.pgcluster import SUPERUSER_PASSWORD


def fdw_database(db, coordinator, servers):
    """db (re)created on the coordinator and every shard of servers ({server name: cluster})."""
    for cluster in [coordinator] + list(servers.values()):
        cluster.query('DROP DATABASE IF EXISTS %s' % db)
        cluster.query('CREATE DATABASE %s' % db)
    coordinator.query('CREATE EXTENSION postgres_fdw', dbname=db)
    for server, shard in sorted(servers.items()):
        coordinator.query("CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %%s, port %%s, dbname %%s)"
                          % server, (shard.host, str(shard.port), db), dbname=db)
        coordinator.query("CREATE USER MAPPING FOR postgres SERVER %s OPTIONS (user 'postgres', password %%s)"
                          % server, (SUPERUSER_PASSWORD,), dbname=db)
