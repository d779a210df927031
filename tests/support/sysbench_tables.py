"""sysbench 1.0's table sbtest1 as a pgdist_tables entry, and its rows loaded through the coordinator.

`sysbench oltp_* prepare` (Debian's sysbench 1.0.20) creates sbtest1 itself: id SERIAL primary key, k INTEGER
DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, index k_1 on k. On a
cluster the roles create it (hash partitioned by id, id numbered by a sequence on the coordinator, the k index
on every shard table) and the rows are loaded as prepare loads them: ids from the sequence, k uniform in
1..rows, c and pad in its digit-group format. sysbench then only runs."""


def sbtest(partition_count):
    return dict(
        name='sbtest1', partition_by=dict(method='hash', key='id'), partition_count=partition_count,
        primary_key=['id'],
        columns=[dict(name='id', type='integer', nullable=False, sequence=True),
                 dict(name='k', type='integer', nullable=False, default=0),
                 dict(name='c', type='char(120)', nullable=False, default=''),
                 dict(name='pad', type='char(60)', nullable=False, default='')],
        indexes=[dict(name='k_1', columns=['k'])])


def load(rows):
    """The INSERT that fills sbtest1 with rows rows, as sysbench's prepare would (c and pad: groups of 11
    random digits joined by '-', 10 and 5 groups)."""
    return """INSERT INTO sbtest1 (k, c, pad)
          SELECT 1 + (random() * %(rows)d)::int %% %(rows)d,
                 array_to_string(ARRAY(SELECT lpad((random() * 99999999999)::bigint::text, 11, '0')
                                         FROM generate_series(1, 10) WHERE g > 0), '-'),
                 array_to_string(ARRAY(SELECT lpad((random() * 99999999999)::bigint::text, 11, '0')
                                         FROM generate_series(1, 5) WHERE g > 0), '-')
            FROM generate_series(1, %(rows)d) g""" % dict(rows=rows)
