"""Run our modules and playbooks through ansible-playbook, as users do.

The repository is made visible as ansible_collections/pgdist/cluster by a
symlink in a temporary collections path, so tests exercise the working
tree. Results come back through the ansible.posix.json callback.
"""

import json
import os
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_COLLECTIONS = None


def collections_path():
    """A folder holding ansible_collections/pgdist/cluster -> this repository."""
    global _COLLECTIONS
    if _COLLECTIONS is None:
        root = tempfile.mkdtemp(prefix='pgdist-collections-')
        os.makedirs(os.path.join(root, 'ansible_collections', 'pgdist'))
        os.symlink(REPO, os.path.join(root, 'ansible_collections', 'pgdist', 'cluster'))
        _COLLECTIONS = root
    return _COLLECTIONS


def ansible_env(extra=None):
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    # The venv's collections (ansible.posix for the json callback) after ours.
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collections_path() + os.pathsep + os.path.join(
            os.path.dirname(bindir), 'lib', 'python%d.%d' % sys.version_info[:2], 'site-packages'),
        ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
        ANSIBLE_HOST_KEY_CHECKING='False',
        ANSIBLE_RETRY_FILES_ENABLED='False',
        ANSIBLE_NOCOLOR='1',
        ANSIBLE_LOCALHOST_WARNING='False',
        ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
        PATH=bindir + os.pathsep + env.get('PATH', ''),
    )
    env.update(extra or {})
    return env


class PlaybookRun(object):
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        try:
            self.data = json.loads(self.stdout[self.stdout.index('{'):])
        except ValueError:
            self.data = None

    def results(self, host='localhost'):
        """Each task's result for host, in order."""
        if not self.data:
            raise AssertionError('no JSON from ansible-playbook:\n%s\n%s' % (self.stdout, self.stderr))
        out = []
        for play in self.data['plays']:
            for task in play['tasks']:
                if host in task['hosts']:
                    result = dict(task['hosts'][host])
                    result['_task'] = task['task']['name']
                    out.append(result)
        return out

    @property
    def stats(self):
        return self.data['stats'] if self.data else {}

    def changed(self, host='localhost'):
        return self.stats.get(host, {}).get('changed')

    @property
    def ok(self):
        return self.returncode == 0

    def failures(self):
        """'host: task: message' of every failed or unreachable task result (the JSON's tail hides them)."""
        out = []
        for play in (self.data or {}).get('plays', []):
            for task in play['tasks']:
                for host, result in task['hosts'].items():
                    if result.get('failed') or result.get('unreachable'):
                        detail = result.get('msg') or ''
                        for key in ('stderr', 'module_stderr', 'exception'):
                            if result.get(key):
                                detail += '\n%s: %s' % (key, str(result[key])[-1500:])
                        out.append('%s: %s: %s' % (host, task['task']['name'], detail))
        return out

    def report(self, what):
        """What a failed run says: its failed tasks first, then the tails of its output."""
        return '%s failed (exit %s):\n%s\n--- stdout tail\n%s\n--- stderr tail\n%s' % (
            what, self.returncode, '\n'.join(self.failures()) or '(no failed task in the JSON)',
            self.stdout[-3000:], self.stderr[-3000:])


def run_playbook(playbook, inventory=None, check=False, diff=False, verbosity=0, extra_vars=None, env=None,
                 args=(), callback='ansible.posix.json'):
    """Run a playbook (a path, or a list of plays to write out) and parse its JSON output."""
    workdir = tempfile.mkdtemp(prefix='pgdist-play-')
    if not isinstance(playbook, str):
        path = os.path.join(workdir, 'play.yml')
        with open(path, 'w') as handle:
            yaml.safe_dump(playbook, handle, sort_keys=False)
        playbook = path
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), playbook]
    if inventory is None:
        inventory = os.path.join(workdir, 'hosts.yml')
        with open(inventory, 'w') as handle:
            yaml.safe_dump({'all': {'hosts': {'localhost': {
                'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}, handle)
    command += ['-i', inventory]
    if check:
        command.append('--check')
    if diff:
        command.append('--diff')
    if verbosity:
        command.append('-' + 'v' * verbosity)
    if extra_vars:
        command += ['-e', json.dumps(extra_vars)]
    command += list(args)
    environment = ansible_env(env)
    environment['ANSIBLE_STDOUT_CALLBACK'] = callback
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment, cwd=REPO, check=False)
    return PlaybookRun(completed)


def run_tasks(tasks, module_defaults=None, **kwargs):
    """Run tasks on localhost in one play."""
    play = {'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}
    if module_defaults:
        play['module_defaults'] = {'group/pgdist.cluster.all': module_defaults}
    return run_playbook([play], **kwargs)


def run_module(module, args, login=None, **kwargs):
    """Run one module task; return (result dict, PlaybookRun)."""
    task_args = dict(login or {})
    task_args.update(args)
    run = run_tasks([{'name': module, 'pgdist.cluster.' + module: task_args}], **kwargs)
    results = run.results()
    if not results:
        raise AssertionError('task did not run:\n%s\n%s' % (run.stdout, run.stderr))
    return results[0], run
