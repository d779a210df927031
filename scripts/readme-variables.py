"""Rewrite the variable reference of README.md (between <!-- variables --> and <!-- /variables -->) from the
roles' argument specs (roles/*/meta/argument_specs.yml): one table per role, with each variable's type, default
and description; --check only says whether it is current (exit 1 when not), so it cannot drift from the specs."""

import glob
import os
import re
import sys

import yaml

import readme_block  # beside this script, on sys.path when it runs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, 'README.md')
START, END = '<!-- variables -->', '<!-- /variables -->'
# The plan role defines every shared variable: its table comes first, the others in name order.
FIRST = 'plan'


def flow(value):
    """A default as one would write it in YAML flow style (what an inventory would say)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    if isinstance(value, dict):
        return '{%s}' % ', '.join('%s: %s' % (key, flow(item)) for key, item in value.items())
    if isinstance(value, list):
        return '[%s]' % ', '.join(flow(item) for item in value)
    if isinstance(value, str) and (value == '' or re.search(r'[:{}\[\],#]|^\s|\s$', value)):
        return '"%s"' % value
    return str(value)


def cell(text):
    """Text of a table cell: the spec's prose, with what Markdown would read as HTML, emphasis or a column bar
    escaped (underscores inside names such as pgdist_plan are left alone: GitHub does not emphasise them)."""
    text = ' '.join(text.split())
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    text = text.replace('|', '\\|').replace('*', '\\*')
    return re.sub(r'(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])', r'\\_', text)


def code(text):
    return '`%s`' % text.replace('|', '\\|')


def kind(spec):
    name = spec.get('type', 'str')
    if spec.get('elements'):
        name = '%s of %s' % (name, spec['elements'])
    if spec.get('choices'):
        name += ': ' + ', '.join(flow(choice) for choice in spec['choices'])
    if spec.get('no_log'):
        name += ' (secret)'
    return name


def default(spec):
    if spec.get('required'):
        return 'required'
    if 'default' in spec:
        return code(flow(spec['default']))
    return ''


def description(spec):
    text = spec.get('description', '')
    if isinstance(text, list):
        text = ' '.join(text)
    return cell(text)


def rows(options, prefix=''):
    for name, spec in options.items():
        yield '| %s | %s | %s | %s |' % (code(prefix + name), kind(spec), default(spec), description(spec))
        if spec.get('options'):
            # A list's entries or a dict's keys: pgdist_app_users[].name, pgdist_keepalives.idle.
            nested = prefix + name + ('[].' if spec.get('type') == 'list' else '.')
            yield from rows(spec['options'], nested)


def role_names(repo):
    names = sorted(os.path.basename(os.path.dirname(os.path.dirname(path)))
                   for path in glob.glob(os.path.join(repo, 'roles', '*', 'meta', 'argument_specs.yml')))
    return sorted(names, key=lambda name: name != FIRST)


def reference(repo):
    parts = []
    for role in role_names(repo):
        with open(os.path.join(repo, 'roles', role, 'meta', 'argument_specs.yml')) as handle:
            spec = yaml.safe_load(handle)['argument_specs']['main']
        parts.append('### `pgdist.cluster.%s`\n\n%s\n\n| variable | type | default | description |\n'
                     '|---|---|---|---|\n%s\n'
                     % (role, cell(spec['short_description']), '\n'.join(rows(spec.get('options', {})))))
    return '\n'.join(parts)


def main(argv):
    readme_block.rewrite(README, START, END, lambda text: reference(REPO), argv,
                         'README.md: the variable reference differs from roles/*/meta/argument_specs.yml; '
                         'run scripts/readme-variables.py (or make docs)')


if __name__ == '__main__':
    main(sys.argv[1:])
