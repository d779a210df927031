"""A rebuild of the coordinator extension recompiles every object when a header changes.

The server role copies a new source over the last build and runs make: with PGXS's rules alone, an upgrade
that changes only a header (a struct that grew) recompiles the changed .c files and links them with stale
objects, and the library crashes at run time. No compiler runs here: make is asked what it would do.
"""

import glob
import os
import shutil
import subprocess

import pytest

from support.pgdist_ext import EXTENSION_DIR, make_arguments

HEADERS = sorted(os.path.basename(path) for path in glob.glob(os.path.join(EXTENSION_DIR, '*.h')))


def make_would_compile(source):
    # with_llvm=no as the server role builds: no bitcode compiles in the answer.
    done = subprocess.run(['make', '-n', '-C', source, 'all', 'with_llvm=no'] + make_arguments(), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return sorted({os.path.basename(word)[:-2] for line in done.stdout.splitlines() if ' -c ' in line
                   for word in line.split() if word.endswith('.c')})


@pytest.fixture
def built(tmp_path):
    """A copy of the source whose objects and library look newer than every source file."""
    source = str(tmp_path / 'pgdist')
    shutil.copytree(EXTENSION_DIR, source)
    units = [os.path.basename(path)[:-2] for path in glob.glob(os.path.join(source, '*.c'))]
    newer = max(os.stat(path).st_mtime for path in glob.glob(os.path.join(source, '*'))) + 10
    for name in [unit + '.o' for unit in units] + ['pgdist.so']:
        open(os.path.join(source, name), 'w').close()
        os.utime(os.path.join(source, name), (newer, newer))
    assert make_would_compile(source) == []
    return source, sorted(units), newer


@pytest.mark.parametrize('header', HEADERS)
def test_a_changed_header_recompiles_every_object(built, header):
    source, units, newer = built
    os.utime(os.path.join(source, header), (newer + 10, newer + 10))
    assert make_would_compile(source) == units
