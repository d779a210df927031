# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host must have before the roles change anything on it (pgdist.cluster.prerequisites).

Pure logic over probes, so the unit tests give their own; the module gives the
real ones. Nothing here needs psycopg2: a missing psycopg2 is one of the things
it reports.

A requirement is a dict: ``package`` (what to install), exactly one of
``executable`` (a command on PATH or in the sbin directories), ``python_module``
(importable by the interpreter the modules run with), ``file`` (a path) or
``pg_config`` (a pg_config whose server headers and PGXS makefile exist), and
an optional ``purpose`` (what needs it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

KINDS = ('executable', 'python_module', 'file', 'pg_config')
KEYS = KINDS + ('package', 'purpose')
SHOWN = dict(executable='command', python_module='python module', file='file', pg_config='server headers of')


class BadRequirement(ValueError):
    """A requirement that names no package or not exactly one thing to look for."""


def kind_of(requirement, index):
    """The one kind of requirement (executable, python_module, file, pg_config); BadRequirement otherwise."""
    label = 'requirements[%d]' % index
    if not isinstance(requirement, dict):
        raise BadRequirement('%s must be a dict, got %r' % (label, requirement))
    unknown = sorted(set(requirement) - set(KEYS))
    if unknown:
        raise BadRequirement('%s: unknown key(s) %s; known: %s' % (label, ', '.join(unknown), ', '.join(KEYS)))
    if not requirement.get('package'):
        raise BadRequirement('%s: package (the one that provides it) is required' % label)
    kinds = [kind for kind in KINDS if requirement.get(kind)]
    if len(kinds) != 1:
        raise BadRequirement('%s (%s): give exactly one of %s' % (label, requirement['package'], ', '.join(KINDS)))
    return kinds[0]


def missing(requirements, probes):
    """[{package, kind, name, purpose, detail}] of the requirements the probes do not find.

    probes maps each kind to a function(name) returning None when found, else what was not found (a short text).
    """
    out = []
    for index, requirement in enumerate(requirements or []):
        kind = kind_of(requirement, index)
        name = requirement[kind]
        detail = probes[kind](name)
        if detail is not None:
            out.append(dict(package=requirement['package'], kind=kind, name=name,
                            purpose=requirement.get('purpose') or '', detail=detail))
    return out


def message(found_missing):
    """One sentence naming every missing package, what is missing of it and what needs it."""
    parts = []
    for item in found_missing:
        text = '%s (%s %s %s' % (item['package'], SHOWN[item['kind']], item['name'], item['detail'])
        if item['purpose']:
            text += ', for %s' % item['purpose']
        parts.append(text + ')')
    return 'missing: %s' % '; '.join(parts)


# -- the real probes -----------------------------------------------------------------------

def probe_file(path):
    return None if os.path.exists(path) else 'is not there'


def probe_python_module(name):
    """Found without importing it (importing psycopg2 only to see whether it is there would load libpq)."""
    try:
        from importlib.util import find_spec
    except ImportError:  # pragma: no cover - Python 2
        try:
            __import__(name)
            return None
        except ImportError:
            return 'cannot be imported'
    try:
        return None if find_spec(name) is not None else 'cannot be imported'
    except (ImportError, ValueError):
        return 'cannot be imported'


def probe_pg_config(path):
    """pg_config's server headers (postgres.h) and PGXS makefile: what PGXS builds with."""
    try:
        output = subprocess.check_output([path, '--includedir-server', '--pgxs'], stderr=subprocess.STDOUT)
    except OSError:
        return '(%s is not there)' % path
    except subprocess.CalledProcessError as exc:
        return '(%s failed: %s)' % (path, exc.output.decode('utf-8', 'replace').strip())
    includedir, pgxs = output.decode('utf-8', 'replace').splitlines()[:2]
    lacking = [wanted for wanted in (os.path.join(includedir, 'postgres.h'), pgxs) if not os.path.exists(wanted)]
    if not lacking:
        return None
    return '(%s %s not there)' % (' and '.join(lacking), 'is' if len(lacking) == 1 else 'are')


def real_probes(which):
    """Probes on this host; which(name) is the module's get_bin_path (PATH and the sbin directories)."""
    return dict(executable=lambda name: None if which(name) else 'is not on PATH', python_module=probe_python_module,
                file=probe_file, pg_config=probe_pg_config)
