# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The coordinator side: a parent table and its partitions, local tables or foreign tables on shards.

CoordinatorPlanner holds the steps both layouts share. Its subclasses are the
strategies: declarative.py (PARTITION BY) and inheritance.py (the seeds'
INHERITS children with a routing trigger). They implement the layout hooks:
check_parent, create_parent, create_child, attach_existing, bound_changed,
unbind, bind, take_out, drop_child, row_movement and analyzed_tables, and set
PARENT_KIND (the relkind of their parent).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgdist.cluster.plugins.module_utils import sqlbuild
from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import InvalidInput
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning import sql
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.base import Planner, column_view
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.layout import MOVER_SUFFIX, ROUTING_SUFFIX
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.schema import objects_view, with_objects
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.shard import bound_checks, hash_shape_text
from ansible_collections.pgdist.cluster.plugins.module_utils.partitioning.snapshot import read_coordinator, remote_of
from ansible_collections.pgdist.cluster.plugins.module_utils.plan import Refusal, options_diff


def current_view(snapshot, key):
    """The parent and its children as the catalogs hold them, for the diff."""
    parent = snapshot.relation(key)
    if parent is None:
        return {}
    partitions = {}
    for child in (snapshot.relation(child_key) for child_key in snapshot.children):
        remote = remote_of(child)
        partitions[child['name']] = dict(
            bounds=child['bound'] if child['is_partition'] else ', '.join(child['bound_checks']) or None,
            server=child['server'], remote='%s.%s' % remote if remote else None)
    return with_objects(dict(table='%s.%s' % key, partitioning='declarative' if parent['kind'] == 'p' else 'inheritance',
                             columns=column_view(snapshot.columns_of(key)), partitions=partitions),
                        objects_view(snapshot, key))


def missing_servers(layout, snapshot):
    """{foreign server the partitions name that does not exist: the message saying so}."""
    wanted = set(part.server for part in layout.partitions if part.server)
    return dict((server, 'partitions: %s: foreign server %s does not exist in database %s; create it first '
                         '(pgdist.cluster.foreign_server)'
                         % (', '.join(part.name for part in layout.partitions if part.server == server), server,
                            snapshot.database))
                for server in sorted(wanted - snapshot.servers))


class CoordinatorPlanner(Planner):
    read = staticmethod(read_coordinator)
    PARENT_KIND = None

    def run(self):
        layout, snapshot = self.layout, self.snapshot
        parent = snapshot.relation(layout.qualified)
        before = current_view(snapshot, layout.qualified)
        if not layout.present:
            self.drop_all(parent)
            return dict(before=before, after={}, partitions={}, unlisted_partitions=[])
        self.validate_servers()
        self.ensure_schemas(set([layout.schema] + [part.schema for part in layout.partitions]))
        columns = self.reconcile_parent(parent)
        listed = set(part.qualified for part in layout.partitions)
        unlisted = [key for key in snapshot.children if key not in listed]
        self.reconcile_partitions(unlisted)
        self.check_remote_bounds()
        if parent is not None:
            self.primary_key(layout.table, layout.label, parent['primary_key'])
        objects = self.parent_objects(parent)
        self.row_movement()
        self.analyze(self.analyzed_tables())
        partitions = dict((part.name, part.view()) for part in layout.partitions)
        after = with_objects(dict(table=layout.label, partitioning=layout.mode, method=layout.method, key=layout.key,
                                  columns=columns, partitions=dict(partitions)), objects)
        if not layout.prune:
            after['partitions'].update((key[1], before['partitions'][key[1]]) for key in unlisted)
        return dict(before=before, after=after, partitions=partitions,
                    unlisted_partitions=['%s.%s' % key for key in unlisted])

    def parent_objects(self, parent):
        """The indexes and constraints of the parent, where PostgreSQL allows them (objects.py): a declarative
        parent gets the CHECKs and non-unique indexes, and unique indexes and foreign keys while no partition is
        foreign; an inheritance parent the CHECKs (its children inherit them). PostgreSQL builds an index on a
        partitioned table in one go and adds its foreign keys validated; CHECKs are added NOT VALID and
        validated after the commit when a local partition exists (the one kind that holds rows here)."""
        layout, snapshot = self.layout, self.snapshot
        foreign = any(part.server for part in layout.partitions)
        indexes, constraints = [], list(layout.checks)
        if self.PARENT_KIND == 'p':
            indexes = [index for index in layout.indexes if not (index.unique and foreign)]
            constraints += [] if foreign else layout.foreign_keys
        local_rows = parent is not None and any(not part.server and part.qualified in snapshot.children
                                                for part in layout.partitions)
        return self.schema_objects(layout.table, layout.qualified, parent is None, indexes, constraints,
                                   online=local_rows, partitioned=self.PARENT_KIND == 'p')

    def validate_servers(self):
        for message in missing_servers(self.layout, self.snapshot).values():
            raise InvalidInput(message)

    def reconcile_parent(self, parent):
        """Create the parent, or check it and reconcile its columns; the column view after."""
        layout = self.layout
        if parent is None:
            self.create_parent()
            self.created_defaults(layout.table)
            return dict((column.name, column.view()) for column in layout.columns)
        if parent['kind'] != self.PARENT_KIND:
            kinds = dict(p='partitioned', r='plain')
            raise Refusal('%s exists as a %s table; it cannot become a %s table in place (that means moving every '
                          'row); nothing was changed' % (layout.label, kinds.get(parent['kind'], parent['kind']),
                                                         kinds[self.PARENT_KIND]))
        self.check_parent(parent)
        return self.columns(layout.table, layout.qualified, self.snapshot.columns_of(layout.qualified), layout.key)

    # -- partitions ---------------------------------------------------------------------

    def reconcile_partitions(self, unlisted):
        """What takes a partition out (prune, re-point, old bounds) is planned before what puts one in,
        so bounds can pass from one partition to another in one run."""
        added, rebound = [], []
        for key in unlisted:
            self.prune(key)
        for part in self.layout.partitions:
            current = self.snapshot.relation(part.qualified)
            if part.qualified not in self.snapshot.children:
                added.append((part, current))
            elif self.repointed(part, current):
                added.append((part, None))
            else:
                if self.bound_changed(part, current):
                    rebound.append(part)
                self.update_options(part, current)
        self.unbind(rebound)
        for part, existing in added:
            self.add_partition(part, existing)
        self.bind(rebound)

    def add_partition(self, part, existing):
        if existing is None:
            self.create_child(part)
        else:
            self.attach_existing(part, existing)

    def repointed(self, part, current):
        """Drop a partition that moves (local, server, remote table), to be created anew; refused with rows."""
        remote = remote_of(current)
        wanted_remote = part.remote if part.server else None
        if current['server'] == part.server and remote == wanted_remote:
            return False
        where = ('foreign table on %s' % current['server']) if current['server'] else 'local table'
        self.refuse_if_rows(part.schema, part.name, 're-pointing partition %s from its %s%s to %s'
                            % (part.name, where, ' (%s.%s)' % remote if remote else '',
                               ('server %s (%s.%s)' % ((part.server,) + part.remote)) if part.server
                               else 'a local table'))
        for statement in self.drop_child(part.table, foreign=bool(current['server'])):
            self.plan.add(statement)
        return True

    def check_remote_bounds(self):
        """Each foreign partition's shard table must refuse rows outside the partition itself.

        PostgreSQL checks neither the bound nor the CHECK constraints of a foreign table, and postgres_fdw updates
        a row whose key changes in place, on its shard: a row that leaves its bounds there is hidden from every
        query pruned to the partition its key names. The shard's pgdist bounds CHECK (side: shard creates it, and
        adds it to a table made by hand once every row fits) refuses such rows. Without it, key_update: refuse
        needs the coordinator extension's refusal of key-changing UPDATEs; with it or key_update: move, writes
        into the partition by name or on the shard stay unchecked, a warning.
        """
        layout, snapshot = self.layout, self.snapshot
        unguarded, unverified = [], []
        for part in layout.partitions:
            wanted = part.server and bound_checks(layout, part, hash_shape_text(layout, part, self.render))
            if not wanted or part.server not in snapshot.servers:
                continue
            label = '%s (%s.%s on %s)' % ((part.name,) + part.remote + (part.server,))
            key = (part.server,) + part.remote
            if part.server in snapshot.remote_errors:
                unverified.append('%s: %s' % (label, snapshot.remote_errors[part.server]))
            elif key not in snapshot.remote_tables:
                continue
            elif snapshot.remote_tables[key] is None:
                unverified.append('%s: no such table there' % label)
            elif not set(wanted) <= set(snapshot.remote_tables[key]['bound_checks']):
                unguarded.append(label)
        if unverified:
            self.plan.warn('cannot tell whether the shard tables behind these foreign partitions refuse rows outside '
                           'their bounds: %s' % '; '.join(unverified))
        if not unguarded:
            return
        what = ('the shard table of %s has no pgdist bounds CHECK (partitioned_table side: shard creates it, or adds '
                'it to an existing table once every row fits its bounds)' % ', '.join(unguarded))
        if layout.key_update == 'refuse' and not snapshot.key_updates_refused:
            raise Refusal('key_update: refuse cannot be honoured: %s, and PostgreSQL neither moves a row whose key '
                          'changes out of a foreign partition nor checks it, so such an UPDATE through the '
                          'coordinator would leave the row on its shard, hidden from queries pruned to the partition '
                          'its new key names. Run partitioned_table side: shard for %s on those shards, load the '
                          'coordinator extension pgdist (it refuses such UPDATEs), or set key_update: move; nothing '
                          'was changed' % (what, layout.label))
        self.plan.warn('%s: rows written into those partitions by name, or on the shard, are not checked against '
                       'their bounds (UPDATEs of the key through the coordinator are %s)'
                       % (what, 'moved (key_update: move)' if layout.key_update == 'move'
                          else 'refused by the coordinator extension'))

    def update_options(self, part, current):
        if part.server:
            actions = options_diff(current['options'], part.fdw_options())
            if actions:
                self.plan.add(sqlbuild.alter_foreign_table_options(part.table, actions))

    def prune(self, key):
        layout = self.layout
        if not layout.prune:
            self.plan.warn('partition %s.%s of %s is not listed; it is kept (prune_partitions: true detaches it)'
                           % (key + (layout.label,)))
            return
        table = sqlbuild.ident(*key)
        self.plan.add(self.take_out(table))
        if layout.drop_data:
            self.plan.add(sqlbuild.drop_relation(table, foreign=self.snapshot.relation(key)['kind'] == 'f'))

    def drop_all(self, parent):
        layout = self.layout
        if parent is None:
            return
        children = [self.snapshot.relation(key) for key in self.snapshot.children]
        if not layout.drop_data:
            raise Refusal('state: absent would drop %s with its %d partition(s) (%s) and their rows; set drop_data: '
                          'true to drop them; nothing was changed'
                          % (layout.label, len(children), ', '.join(child['name'] for child in children) or 'none'))
        for child in children:
            table = sqlbuild.ident(child['schema'], child['name'])
            if parent['kind'] == 'p':
                self.plan.add(sql.detach_partition(layout.table, table))
            self.plan.add(sqlbuild.drop_relation(table, foreign=child['kind'] == 'f'))
        self.plan.add(sqlbuild.drop_relation(layout.table))
        for suffix in (ROUTING_SUFFIX, MOVER_SUFFIX):
            self.drop_function(layout.schema, suffix)

    def trigger(self, name, timing, suffix, body):
        """The row trigger name on the parent, calling <table><suffix> with body (see Planner.trigger_function)."""
        layout = self.layout
        function = self.trigger_function(layout.schema, suffix, body)
        current = self.snapshot.triggers_on(layout.qualified).get(name)
        if current != '%s.%s' % (layout.schema, layout.function_name(suffix)):
            if current is not None:
                self.plan.add(sql.drop_trigger(name, layout.table))
            self.plan.add(sql.create_trigger(name, timing, layout.table, function))
