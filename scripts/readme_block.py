"""The part of README.md between two markers, made by a script of scripts/ (readme-toc.py, readme-variables.py):
rewritten, or with --check only compared (exit 1 when it differs), so it cannot drift from what it is made from."""

import sys


def rewrite(readme, start, end, body, argv, stale):
    """Put body(README's text) between start and end in readme; with --check in argv, exit with the message stale
    when that would change it."""
    with open(readme) as handle:
        text = handle.read()
    if start not in text or end not in text:
        sys.exit('%s: no %s ... %s block' % (readme, start, end))
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    new = '%s%s\n%s%s%s' % (head, start, body(text), end, tail)
    if '--check' in argv:
        if new != text:
            sys.exit(stale)
        return
    with open(readme, 'w') as handle:
        handle.write(new)
