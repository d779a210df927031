"""The coordinator extension's C files call down only (extension/pgdist/README.md, "Layers").

The extension is built for the test server's major and each object's symbols are read with nm: a file
that uses a symbol another file defines calls that file. No cluster is started.
"""

import os
import shutil
import subprocess

import pytest

from support.pgdist_ext import EXTENSION_DIR, make_arguments

# Bottom to top. A file may call files of lower layers and, without a cycle, files of its own layer.
LAYERS = (
    ('shared helpers', ('util', 'settings', 'shared', 'appname')),
    ('connection layer', ('fdw_contract', 'fold', 'prepared', 'fdwconn')),
    ("pgdist's own connections", ('remote',)),
    ('features', ('async_insert', 'read_committed', 'snapshot', 'twophase', 'router', 'recovery', 'restore_point', 'key_update',
                  'waitgraph', 'deadlock', 'deadlock_report', 'lock_waits', 'orphans')),
    ('maintenance worker', ('worker',)),
    ('loading', ('pgdist',)),
)
LAYER_OF = {unit: index for index, (name, units) in enumerate(LAYERS) for unit in units}


def symbols(path, defined):
    flags = ['--defined-only', '--extern-only'] if defined else ['--undefined-only']
    out = subprocess.run(['nm'] + flags + [path], check=True, stdout=subprocess.PIPE, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.fixture(scope='module')
def calls(tmp_path_factory):
    """{file: {file it calls}} of the objects of one build."""
    source = str(tmp_path_factory.mktemp('pgdist-layers') / 'pgdist')
    shutil.copytree(EXTENSION_DIR, source)
    done = subprocess.run(['make', '-s', '-C', source, 'all'] + make_arguments(), check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    objects = {name[:-2]: os.path.join(source, name) for name in os.listdir(source) if name.endswith('.o')}
    owner = {symbol: unit for unit, path in objects.items() for symbol in symbols(path, defined=True)}
    return {unit: {owner[symbol] for symbol in symbols(path, defined=False) if owner.get(symbol, unit) != unit}
            for unit, path in objects.items()}


def test_every_file_has_its_layer(calls):
    assert sorted(calls) == sorted(LAYER_OF)


def test_no_file_calls_a_higher_layer(calls):
    upward = ['%s -> %s' % (unit, callee) for unit, callees in sorted(calls.items()) for callee in sorted(callees)
              if LAYER_OF[callee] > LAYER_OF[unit]]
    assert upward == []


def test_the_call_graph_has_no_cycle(calls):
    remaining = {unit: set(callees) for unit, callees in calls.items()}
    while remaining:
        leaves = [unit for unit, callees in remaining.items() if not callees & set(remaining)]
        assert leaves, 'a cycle among %s' % sorted(remaining)
        for unit in leaves:
            del remaining[unit]


def test_the_connection_layer_calls_only_the_shared_helpers(calls):
    for unit in LAYERS[1][1]:
        assert calls[unit] <= set(LAYERS[0][1]) | set(LAYERS[1][1]), unit
