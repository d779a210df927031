"""The README's table of contents is the one scripts/readme-toc.py makes from its headings (it cannot drift), its
variable reference the one scripts/readme-variables.py makes from the argument specs, and its images exist with
their Graphviz sources."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_current(script):
    """scripts/<script> --check on the README: exit 0, or what it says is stale."""
    run = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', script), '--check'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert run.returncode == 0, run.stdout


def copy_script(tmp_path, script):
    """A copy of scripts/<script> and of the module it shares with the other README script, under tmp_path (the
    scripts read the README beside them): its path."""
    (tmp_path / 'scripts').mkdir()
    for name in (script, 'readme_block.py'):
        (tmp_path / 'scripts' / name).write_text(open(os.path.join(REPO, 'scripts', name)).read())
    return tmp_path / 'scripts' / script


def test_table_of_contents_is_current():
    check_current('readme-toc.py')


def test_a_heading_added_makes_it_stale(tmp_path):
    # The check reads the README next to the script: run a copy beside an edited README.
    script = copy_script(tmp_path, 'readme-toc.py')
    readme = open(os.path.join(REPO, 'README.md')).read()
    (tmp_path / 'README.md').write_text(readme + '\n## A new section\n')
    check = [sys.executable, str(script), '--check']
    assert subprocess.run(check, check=False).returncode == 1
    subprocess.run([sys.executable, str(script)], check=True)
    assert '- [A new section](#a-new-section)' in (tmp_path / 'README.md').read_text()
    assert subprocess.run(check, check=False).returncode == 0


def test_variable_reference_is_current():
    check_current('readme-variables.py')


def test_a_changed_argument_spec_makes_the_reference_stale(tmp_path):
    # A copy of the script, the README and the specs, one default changed and one variable added.
    script = copy_script(tmp_path, 'readme-variables.py')
    (tmp_path / 'README.md').write_text(open(os.path.join(REPO, 'README.md')).read())
    for role in os.listdir(os.path.join(REPO, 'roles')):
        spec = os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')
        if os.path.exists(spec):
            (tmp_path / 'roles' / role / 'meta').mkdir(parents=True)
            (tmp_path / 'roles' / role / 'meta' / 'argument_specs.yml').write_text(open(spec).read())
    specs = tmp_path / 'roles' / 'rebalance' / 'meta' / 'argument_specs.yml'
    text = specs.read_text()
    assert 'default: 600\n' in text
    specs.write_text(text.replace('default: 600\n', 'default: 900\n') +
                     '      pgdist_rebalance_new: {type: bool, default: false, description: "A <new> | option."}\n')
    check = [sys.executable, str(script), '--check']
    assert subprocess.run(check, check=False).returncode == 1
    subprocess.run([sys.executable, str(script)], check=True)
    readme = (tmp_path / 'README.md').read_text()
    assert '| `pgdist_rebalance_catch_up_timeout` | int | `900` |' in readme
    assert '| `pgdist_rebalance_new` | bool | `false` | A &lt;new&gt; \\| option. |' in readme
    assert subprocess.run(check, check=False).returncode == 0


def test_every_image_exists_and_every_diagram_has_its_source():
    # The README shows the committed .svg files; make docs renders each from the .dot beside it.
    readme = open(os.path.join(REPO, 'README.md')).read()
    images = re.findall(r'!\[[^\]]*\]\(([^)\s]+)\)', readme)
    assert 'docs/architecture.svg' in images and 'docs/dataflow.svg' in images, images
    missing = [image for image in images if not os.path.isfile(os.path.join(REPO, image))]
    assert not missing, 'README.md shows images that are not in the repository: %s' % missing
    docs = os.path.join(REPO, 'docs')
    unsourced = [name for name in sorted(os.listdir(docs))
                 if name.endswith('.svg') and not os.path.isfile(os.path.join(docs, name[:-len('.svg')] + '.dot'))]
    assert not unsourced, 'docs/ has diagrams without their Graphviz source: %s' % unsourced
