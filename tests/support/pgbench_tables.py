"""pgbench's four tables as the roles distribute them (pgdist_tables), and TPC-B's balance sums.

Shared by the role tests and make bench: pgbench -i -I G fills the tables through the coordinator.
"""


def _table(name, columns, key, partitions, primary=True):
    spec = dict(name=name, columns=[dict(name=column, type=kind) for column, kind in columns],
                partition_by=dict(method='hash', key=key), partition_count=partitions)
    if primary:
        spec['primary_key'] = [key]
    return spec


def pgbench_tables(partitions):
    """pgdist_tables entries: each table hash-distributed in `partitions` partitions (history on aid)."""
    return [
        _table('pgbench_branches', [('bid', 'int'), ('bbalance', 'int'), ('filler', 'char(88)')], 'bid', partitions),
        _table('pgbench_tellers', [('tid', 'int'), ('bid', 'int'), ('tbalance', 'int'), ('filler', 'char(84)')],
               'tid', partitions),
        _table('pgbench_accounts', [('aid', 'int'), ('bid', 'int'), ('abalance', 'int'), ('filler', 'char(84)')],
               'aid', partitions),
        _table('pgbench_history', [('tid', 'int'), ('bid', 'int'), ('aid', 'int'), ('delta', 'int'),
                                   ('mtime', 'timestamp'), ('filler', 'char(22)')], 'aid', partitions, primary=False),
    ]


# TPC-B keeps these four equal: the sums of account, teller and branch balances and of history deltas.
TPCB_SUMS = ('SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers),'
             ' (SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)')
