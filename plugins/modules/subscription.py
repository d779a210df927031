#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: subscription
short_description: Manage a logical replication subscription (CREATE/ALTER/DROP SUBSCRIPTION)
version_added: 1.0.0
description:
  - Creates a subscription in O(db) on the subscriber, reconciles its connection, publications and options,
    refreshes it, or drops it together with its replication slot on the publisher.
  - The stored connection (C(pg_subscription.subconninfo)) is parsed and compared key by key with
    O(connection); a change is applied with C(ALTER SUBSCRIPTION ... CONNECTION). The password is never shown,
    it is C(********) in RV(queries), diffs, warnings and errors.
  - Changed O(publications) are applied with C(ALTER SUBSCRIPTION ... SET PUBLICATION), which also refreshes
    the subscription (copying the new tables unless O(options.copy_data=false)) when it is enabled.
  - The module logs in as a superuser, because it reads C(subconninfo), which only superusers can (the
    C(pg_create_subscription) role of PostgreSQL 16 lets others create subscriptions, not read that column).
  - The publisher may run another major version than the subscriber (an older publisher is the usual upgrade
    path); the options are those of the subscriber's server.
notes:
  - PostgreSQL refuses some statements inside a transaction block. C(CREATE SUBSCRIPTION) with a slot
    (O(options.create_slot) not false), C(DROP SUBSCRIPTION) of a subscription that has a slot,
    C(SET PUBLICATION) with refresh and C(REFRESH PUBLICATION) therefore run in autocommit, after the other
    statements of the task have been committed in one transaction. Each of them is atomic on its own.
  - O(state=refresh) always runs C(REFRESH PUBLICATION) and so always reports a change.
options:
  name:
    description: Name of the subscription.
    type: str
    required: true
  publications:
    description:
      - Publications on the publisher to subscribe to, the whole list. Required to create the subscription.
    type: list
    elements: str
  connection:
    description:
      - How the subscriber connects to the publisher (the subscription's conninfo). Required to create the
        subscription; when given for an existing one it is the whole wanted conninfo.
      - The publisher must allow this connection in C(pg_hba.conf) as a database connection (logical
        replication does not use the C(replication) keyword) and the user needs the C(REPLICATION) attribute.
    type: dict
    suboptions:
      host:
        description: Publisher host name or address.
        type: str
        required: true
      port:
        description: Publisher port.
        type: int
      dbname:
        description: Database of the publication on the publisher.
        type: str
        required: true
      user:
        description: Role the subscriber logs in as on the publisher.
        type: str
        required: true
      password:
        description: Password of O(connection.user). Secret; never shown.
        type: str
      sslmode:
        description: libpq C(sslmode).
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      sslrootcert:
        description: CA certificate file on the subscriber used to verify the publisher (libpq C(sslrootcert)).
        type: str
      channel_binding:
        description:
          - libpq C(channel_binding). V(require) binds SCRAM authentication to the TLS channel, so a machine in the
            middle cannot complete it and a publisher that does not ask for SCRAM is refused (the roles set it with
            TLS when no CA authenticates the publisher).
        type: str
        choices: [disable, prefer, require]
      application_name:
        description:
          - Name the subscription's walsender reports on the publisher. Put it in the publisher's
            C(synchronous_standby_names) to make commits there wait for this subscriber (synchronous mode).
          - PostgreSQL uses the subscription name when it is unset.
        type: str
  options:
    description:
      - Subscription parameters. Unset ones keep what the subscription has (or PostgreSQL's default when
        creating it).
    type: dict
    default: {}
    suboptions:
      copy_data:
        description: Copy the rows that already exist on the publisher, on creation and on each refresh.
        type: bool
      create_slot:
        description: Create the replication slot on the publisher when creating the subscription.
        type: bool
      slot_name:
        description:
          - Replication slot on the publisher; defaults to the subscription name.
          - Changing it on an existing subscription disables it for the change and enables it again.
        type: str
      synchronous_commit:
        description: C(synchronous_commit) of the subscription's apply worker.
        type: str
        choices: ['on', 'off', local, remote_write, remote_apply]
      enabled:
        description: Whether the subscription replicates (C(ALTER SUBSCRIPTION ... ENABLE/DISABLE)).
        type: bool
      binary:
        description:
          - Ask the publisher to send data in binary format (PostgreSQL 14 and later).
          - V(true) is refused on PostgreSQL 13, V(false) is what 13 always does and is accepted there.
        type: bool
      streaming:
        description:
          - Stream in-progress large transactions, V(on), V(off) (PostgreSQL 14 and later) or V(parallel)
            (PostgreSQL 16 and later, applied by parallel workers).
          - PostgreSQL's default is V(off) up to 17 and V(parallel) from 18 on.
          - A mode the subscriber's server does not have is refused before any change, naming the version
            it needs; V(off) is accepted on PostgreSQL 13, which never streams.
        type: raw
      disable_on_error:
        description:
          - Disable the subscription when the apply worker hits an error (PostgreSQL 15 and later).
          - V(true) is refused on 13 and 14, V(false) is what they always do and is accepted there.
        type: bool
  state:
    description:
      - V(present) creates or reconciles the subscription.
      - V(refresh) does the same and then runs C(ALTER SUBSCRIPTION ... REFRESH PUBLICATION) to pick up tables
        added to the publications; it always reports a change.
      - V(absent) drops the subscription and its replication slot on the publisher. The publisher is probed
        first with the subscription's own conninfo and O(connect_timeout); when it is unreachable the
        subscription is disabled, detached from its slot (C(slot_name = NONE)) and dropped, and a warning
        names the slot left on the publisher (also returned as RV(orphaned_slot)).
    type: str
    choices: [present, absent, refresh]
    default: present
extends_documentation_fragment:
  - pgdist.cluster.connection
  - pgdist.cluster.attributes
author:
  - pgdist.cluster contributors (@pgdist)
'''

EXAMPLES = r'''
- name: Replica of shard_paris, synchronous through application_name
  pgdist.cluster.subscription:
    db: library
    name: shard_paris_sub
    publications: [shard_paris_pub]
    connection:
      host: 10.0.0.11
      port: 5432
      dbname: library
      user: pgdist_replication
      password: "{{ pgdist_replication_password }}"
      application_name: shard_paris_replica
    options:
      synchronous_commit: remote_apply
      disable_on_error: false

- name: Pick up tables added to the publication
  pgdist.cluster.subscription:
    db: library
    name: shard_paris_sub
    state: refresh
'''

RETURN = r'''
queries:
  description: Statements run, or that would run in check mode; passwords are C(********).
  returned: always
  type: list
  elements: str
  sample: ["ALTER SUBSCRIPTION \"shard_paris_sub\" SET PUBLICATION \"shard_paris_pub\""]
orphaned_slot:
  description: Replication slot left on an unreachable publisher by O(state=absent), to drop there; null otherwise.
  returned: when O(state=absent)
  type: str
'''

from ansible_collections.pgdist.cluster.plugins.module_utils.replication import subscription
from ansible_collections.pgdist.cluster.plugins.module_utils.runner import run_module

ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    publications=dict(type='list', elements='str'),
    connection=dict(type='dict', options=dict(
        host=dict(type='str', required=True),
        port=dict(type='int'),
        dbname=dict(type='str', required=True),
        user=dict(type='str', required=True),
        password=dict(type='str', no_log=True),
        sslmode=dict(type='str', choices=['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']),
        sslrootcert=dict(type='str'),
        channel_binding=dict(type='str', choices=['disable', 'prefer', 'require']),
        application_name=dict(type='str'),
    )),
    options=dict(type='dict', default={}, options=dict(
        copy_data=dict(type='bool'),
        create_slot=dict(type='bool'),
        slot_name=dict(type='str'),
        synchronous_commit=dict(type='str', choices=['on', 'off', 'local', 'remote_write', 'remote_apply']),
        enabled=dict(type='bool'),
        binary=dict(type='bool'),
        streaming=dict(type='raw'),
        disable_on_error=dict(type='bool'),
    )),
    state=dict(type='str', choices=['present', 'absent', 'refresh'], default='present'),
)


def main():
    run_module(ARGUMENT_SPEC, subscription)


if __name__ == '__main__':
    main()
