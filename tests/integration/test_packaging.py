"""The collection builds into a tarball that installs, and its docs render from the installed copy."""

import os
import subprocess
import sys
import tarfile

import yaml

from support.ansible import REPO

BIN = os.path.dirname(sys.executable)


def run(workdir, *command, env=None):
    """Run in workdir, away from the repository, whose ansible.cfg puts the working tree on the collections path."""
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                               cwd=str(workdir), env=env)
    assert completed.returncode == 0, completed.stdout
    return completed.stdout


def test_build_install_and_ansible_doc(tmp_path):
    run(tmp_path, os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO,
        '--output-path', str(tmp_path / 'dist'))
    tarballs = os.listdir(tmp_path / 'dist')
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        version = yaml.safe_load(handle)['version']
    assert tarballs == ['pgdist-cluster-%s.tar.gz' % version]
    tarball = str(tmp_path / 'dist' / tarballs[0])
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {'MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'plugins/modules/user.py',
            'plugins/module_utils/runner.py', 'plugins/doc_fragments/connection.py'} <= names
    assert not any(name.startswith(('.venv', '.git/', 'tests/output')) for name in names)

    install = tmp_path / 'installed'
    run(tmp_path, os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', tarball, '-p', str(install))
    assert (install / 'ansible_collections' / 'pgdist' / 'cluster' / 'plugins' / 'modules' / 'user.py').is_file()

    # Only the installed copy on the collections path (the working tree is not).
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(install), ANSIBLE_NOCOLOR='1')
    listing = run(tmp_path, os.path.join(BIN, 'ansible-doc'), '-l', 'pgdist.cluster', env=env)
    for module in ('database', 'user', 'extension', 'foreign_server', 'user_mapping'):
        assert 'pgdist.cluster.' + module in listing
    doc = run(tmp_path, os.path.join(BIN, 'ansible-doc'), 'pgdist.cluster.user', env=env)
    assert str(install) in doc  # rendered from the installed tarball
    for text in ('update_password', 'login_password', 'connect_timeout', 'SCRAM-SHA-256'):
        assert text in doc
