"""The control plane of a plan on this machine, made as the HA role makes it: a cluster CA and the node
certificates it signs (roles/ha/files/cluster_tls.sh), etcd's authentication (roles/ha/files/etcd_auth.sh), with
the plan's files moved into a temporary directory; and clients of etcd's and Patroni's HTTP APIs."""

import base64
import json
import os
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request

from support.ansible import REPO

FILES = os.path.join(REPO, 'roles', 'ha', 'files')
API_PASSWORD = 'Api-secret-pw'
ETCD_PASSWORD = 'Etcd-secret-pw'
ETCD_ROOT_PASSWORD = 'Etcd-root-secret-pw'


def make_certificates(plan, base):
    """The cluster CA in base/ca and every host's certificates in base/<host>/tls; returns {plan path: local path}."""
    ca_dir = os.path.join(base, 'ca')
    subprocess.run(['sh', os.path.join(FILES, 'cluster_tls.sh'), 'ca', ca_dir, 'test CA', '30'], check=True,
                   stdout=subprocess.DEVNULL)
    # The CA directory is its owner's only: a copy of the certificate for everyone.
    ca_file = os.path.join(base, 'ca.crt')
    shutil.copy(os.path.join(ca_dir, 'ca.crt'), ca_file)
    os.chmod(ca_file, 0o644)
    moved = {}
    for host, node in sorted(plan['hosts'].items()):
        tls = node['control_plane']
        if not tls:
            continue
        directory = os.path.join(base, host, 'tls')
        os.makedirs(directory, exist_ok=True)
        moved[tls['ca_file']] = ca_file
        for certificate in tls['certificates']:
            key, cert = (os.path.join(directory, os.path.basename(certificate[name])) for name in ('key_file', 'cert_file'))
            # etcd runs as this test's user here, Patroni as the clusters' (support.pgcluster.RUN_AS).
            owner = 'postgres' if certificate['service'] == 'patroni' else str(os.getuid())
            request = subprocess.run(['sh', os.path.join(FILES, 'cluster_tls.sh'), 'request', key, cert,
                                      moved[tls['ca_file']], tls['san'], owner, '1'],
                                     check=True, stdout=subprocess.PIPE).stdout
            with open(cert, 'wb') as handle:
                handle.write(subprocess.run(['sh', os.path.join(FILES, 'cluster_tls.sh'), 'sign', ca_dir, tls['san'], '30'],
                                            input=request, check=True, stdout=subprocess.PIPE).stdout)
            moved[certificate['key_file']], moved[certificate['cert_file']] = key, cert
    return moved


def relocated(settings, moved):
    """settings (a dict, nested) with every plan path of moved replaced by its local one."""
    if isinstance(settings, dict):
        return dict((key, relocated(value, moved)) for key, value in settings.items())
    return moved.get(settings, settings) if isinstance(settings, str) else settings


def etcdctl_env(endpoint, ca_file):
    return dict(os.environ, ETCDCTL_API='3', ETCDCTL_ENDPOINTS=endpoint, ETCDCTL_CACERT=ca_file,
                PGDIST_ETCD_ROOT_PASSWORD=ETCD_ROOT_PASSWORD, PGDIST_ETCD_PASSWORD=ETCD_PASSWORD)


def enable_etcd_auth(plan, endpoint, ca_file):
    """What the HA role's last step does (etcd_auth.yml): prints changed or ok."""
    return subprocess.run(['sh', os.path.join(FILES, 'etcd_auth.sh'), plan['etcd_auth']['user'],
                           plan['etcd_auth']['prefix']], env=etcdctl_env(endpoint, ca_file), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout.strip()


def request(url, ca_file, method='GET', body=None, auth=None, headers=None):
    """(status, parsed body) of one HTTP(S) request; HTTP errors are answers too."""
    headers = dict(headers or {})
    if auth:
        headers['Authorization'] = 'Basic ' + base64.b64encode(('%s:%s' % auth).encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers['Content-Type'] = 'application/json'
    context = ssl.create_default_context(cafile=ca_file) if url.startswith('https') else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers),
                                    timeout=5, context=context) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text or b'null')
    except ValueError:
        return status, text.decode(errors='replace')


def b64(text):
    return base64.b64encode(text.encode()).decode()


def etcd_get(endpoint, ca_file, key, token=None):
    """The value of key in etcd (None when absent), with an auth token or without."""
    status, answer = request(endpoint + '/v3/kv/range', ca_file, 'POST', dict(key=b64(key)),
                             headers=dict(Authorization=token) if token else None)
    if status != 200:
        return status, answer
    kvs = answer.get('kvs') or []
    return status, base64.b64decode(kvs[0]['value']).decode() if kvs else None


def etcd_token(endpoint, ca_file, user, password):
    status, answer = request(endpoint + '/v3/auth/authenticate', ca_file, 'POST', dict(name=user, password=password))
    assert status == 200, answer
    return answer['token']
