"""What max_slot_wal_keep_size does when a subscriber stays down too long.

The replication role sets max_slot_wal_keep_size (pgdist_replication_max_slot_wal_keep_size, 1GB) so a
dead subscriber cannot fill the publisher's disk. Here the limit is lowered to 1MB: while the subscriber
is stopped the publisher writes more WAL than that, a checkpoint removes it, and the slot is invalidated
(wal_status 'lost'). The publisher keeps working; the subscriber, once back, cannot resume from the lost
position and needs a new subscription (state absent, then present, which copies the data again), which
the modules do without losing a row.
"""

import pytest

from support.ansible import run_tasks
from support.pgcluster import start_cluster, wait_for

PASSWORD = 'slot-limit-Pw-1'


@pytest.fixture(scope='module')
def pair():
    limits = dict(max_slot_wal_keep_size="'1MB'", wal_keep_size=0, max_wal_size="'32MB'", min_wal_size="'32MB'")
    publisher = start_cluster('slotpub', settings=limits)
    subscriber = start_cluster('slotsub')
    try:
        publisher.query("CREATE ROLE repl LOGIN REPLICATION PASSWORD %s", (PASSWORD,))
        publisher.query("CREATE TABLE items (id int PRIMARY KEY, payload text); GRANT SELECT ON items TO repl")
        subscriber.query("CREATE TABLE items (id int PRIMARY KEY, payload text)")
        yield publisher, subscriber
    finally:
        subscriber.destroy()
        publisher.destroy()


def subscribe(publisher, subscriber, state='present'):
    tasks = []
    if state == 'present':
        tasks.append({'name': 'publication', 'pgdist.cluster.publication': dict(
            publisher.login, name='pub_items', tables=['items'])})
    tasks.append({'name': 'subscription', 'pgdist.cluster.subscription': dict(
        subscriber.login, name='sub_items', publications=['pub_items'], state=state,
        connection=dict(host=publisher.host, port=publisher.port, dbname='postgres', user='repl',
                        password=PASSWORD))})
    run = run_tasks(tasks)
    assert run.ok, run.stdout[-3000:]
    return run


def count(cluster):
    return cluster.scalar('SELECT count(*) FROM items')


def wal_status(publisher):
    return publisher.scalar("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'sub_items'")


def test_a_subscriber_down_too_long_loses_its_slot_not_the_publishers_disk(pair):
    publisher, subscriber = pair
    publisher.query("INSERT INTO items SELECT g, 'first' FROM generate_series(1, 100) g")
    subscribe(publisher, subscriber)
    assert wait_for(lambda: count(subscriber) == 100, timeout=60)

    subscriber.stop()
    # Far more WAL than the 1MB the slot may hold back, then a checkpoint that removes old segments.
    for batch in range(4):
        publisher.query("INSERT INTO items SELECT g, repeat('x', 500) FROM generate_series(%s, %s) g",
                        (1000 + batch * 20000, 1000 + batch * 20000 + 19999))
        publisher.query('SELECT pg_switch_wal()')
    publisher.query('CHECKPOINT')
    assert wait_for(lambda: wal_status(publisher) == 'lost', timeout=60), wal_status(publisher)
    # The publisher kept its disk: WAL kept for the dead slot is bounded, writes go on.
    assert publisher.scalar("SELECT safe_wal_size IS NULL FROM pg_replication_slots WHERE slot_name = 'sub_items'")
    publisher.query("INSERT INTO items VALUES (999999, 'after the loss')")

    subscriber.start()
    # The subscription cannot resume: its slot is gone. Recreate it (absent, then present copies the data).
    subscribe(publisher, subscriber, state='absent')
    subscriber.query('TRUNCATE items')
    subscribe(publisher, subscriber)
    expected = count(publisher)
    assert wait_for(lambda: count(subscriber) == expected, timeout=120), (count(subscriber), expected)
    assert wal_status(publisher) in ('reserved', 'extended')
