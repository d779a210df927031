"""The README's table of contents is the one scripts/readme-toc.py makes from its headings (it cannot drift)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_table_of_contents_is_current():
    run = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'readme-toc.py'), '--check'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert run.returncode == 0, run.stdout


def test_a_heading_added_makes_it_stale(tmp_path):
    # The check reads the README next to the script: run a copy beside an edited README.
    (tmp_path / 'scripts').mkdir()
    script = tmp_path / 'scripts' / 'readme-toc.py'
    script.write_text(open(os.path.join(REPO, 'scripts', 'readme-toc.py')).read())
    readme = open(os.path.join(REPO, 'README.md')).read()
    (tmp_path / 'README.md').write_text(readme + '\n## A new section\n')
    check = [sys.executable, str(script), '--check']
    assert subprocess.run(check, check=False).returncode == 1
    subprocess.run([sys.executable, str(script)], check=True)
    assert '- [A new section](#a-new-section)' in (tmp_path / 'README.md').read_text()
    assert subprocess.run(check, check=False).returncode == 0
