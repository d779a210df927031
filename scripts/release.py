"""make release: check that the changelog has a release for galaxy.yml's version, build the collection's tarball
into build/release/, install it into an empty collections path and render the ansible-doc page of every
module, filter and role from that installed copy; exit 1 naming what failed.

Run from a temporary directory with only the installed copy on ANSIBLE_COLLECTIONS_PATH: the repository's
ansible.cfg would put the working tree there instead, and a page must render from what the tarball ships."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
OUTPUT = os.path.join(REPO, 'build', 'release')
PLUGIN_TYPES = ('module', 'filter', 'role')


def run(command, cwd, env=None):
    completed = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, check=False)
    return completed.returncode, completed.stdout, completed.stderr


def must(command, cwd, env=None):
    code, out, err = run(command, cwd, env)
    if code != 0:
        sys.exit('release: %s failed (exit %d):\n%s%s' % (' '.join(command), code, out, err))
    return out


def changelog_check(version):
    """The release is in changelogs/changelog.yaml (antsibull-changelog release) and the fragments are valid."""
    with open(os.path.join(REPO, 'changelogs', 'changelog.yaml')) as handle:
        releases = yaml.safe_load(handle).get('releases') or {}
    if version not in releases:
        sys.exit('release: changelogs/changelog.yaml has no release %s (galaxy.yml); run antsibull-changelog '
                 'release --version %s' % (version, version))
    must([os.path.join(BIN, 'antsibull-changelog'), 'lint'], REPO)


def pages(workdir, env):
    """Every module, filter and role the installed collection has, by type, and the ones whose page fails."""
    found, failed = {}, []
    for kind in PLUGIN_TYPES:
        listing = json.loads(must([os.path.join(BIN, 'ansible-doc'), '-t', kind, '-l', 'pgdist.cluster', '--json'],
                                  workdir, env))
        found[kind] = sorted(listing)
        for name in found[kind]:
            code, out, err = run([os.path.join(BIN, 'ansible-doc'), '-t', kind, name], workdir, env)
            # ansible-doc exits 0 on a plugin whose documentation it cannot parse, with an [ERROR] line.
            if code != 0 or '[ERROR]' in out + err or '[WARNING]' in out + err or not out.strip():
                failed.append('%s %s: %s' % (kind, name, (err or out).strip().splitlines()[-1:]))
    return found, failed


def expected(collection):
    """What the tarball ships: module files, filter documentation files and roles. ansible-doc leaves out of its
    list a module that fails to load or a filter whose documentation does not parse, with no error."""
    def names(pattern, name):
        return sorted('pgdist.cluster.' + name(path) for path in glob.glob(os.path.join(collection, pattern))
                      if not os.path.basename(path).startswith('_'))
    return {'module': names('plugins/modules/*.py', lambda path: os.path.basename(path)[:-3]),
            'filter': names('plugins/filter/*.yml', lambda path: os.path.basename(path)[:-4]),
            'role': names('roles/*/meta/argument_specs.yml',
                          lambda path: os.path.basename(os.path.dirname(os.path.dirname(path))))}


def main():
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        version = str(yaml.safe_load(handle)['version'])
    changelog_check(version)

    os.makedirs(OUTPUT, exist_ok=True)
    tarball = os.path.join(OUTPUT, 'pgdist-cluster-%s.tar.gz' % version)
    must([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', OUTPUT, '--force'],
         REPO)
    print('built %s (%d kB)' % (os.path.relpath(tarball, REPO), os.path.getsize(tarball) // 1024))

    workdir = tempfile.mkdtemp(prefix='pgdist-release-')
    try:
        collections = os.path.join(workdir, 'collections')
        must([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', tarball, '-p', collections], workdir)
        installed = os.path.join(collections, 'ansible_collections', 'pgdist', 'cluster')
        print('installed into an empty collections path: %s' % collections)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR='1')
        env.pop('ANSIBLE_CONFIG', None)
        env.pop('ANSIBLE_ROLES_PATH', None)
        found, failed = pages(workdir, env)
        for kind, names in expected(installed).items():
            failed += ['%s %s: not listed by ansible-doc' % (kind, name) for name in names if name not in found[kind]]
    finally:
        shutil.rmtree(workdir)
    for kind in PLUGIN_TYPES:
        print('ansible-doc -t %s: %d pages: %s' % (kind, len(found[kind]),
                                                   ', '.join(name.split('.')[-1] for name in found[kind])))
    if failed:
        sys.exit('release: pages that do not render:\n  ' + '\n  '.join(failed))
    print('release %s: %s' % (version, os.path.relpath(tarball, REPO)))


if __name__ == '__main__':
    main()
