"""Rewrite the table of contents of README.md (between <!-- toc --> and <!-- /toc -->) from its ## and ###
headings, with GitHub's anchors; --check only says whether it is current (exit 1 when not), so it cannot drift."""

import os
import re
import sys

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')
START, END = '<!-- toc -->', '<!-- /toc -->'


def anchor(title, seen):
    """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped, spaces to -, -N for repeats."""
    slug = re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else '%s-%d' % (slug, count)


def contents(text):
    lines, seen, fenced = [], {}, False
    for line in text.splitlines():
        if line.startswith('```'):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r'(#{1,3}) (.+)$', line)
        if not match:
            continue
        level, title = len(match.group(1)), match.group(2)
        slug = anchor(title, seen)
        if level > 1:
            lines.append('%s- [%s](#%s)' % ('  ' * (level - 2), title, slug))
    return '\n'.join(lines)


def main(argv):
    with open(README) as handle:
        text = handle.read()
    if START not in text or END not in text:
        sys.exit('%s: no %s ... %s block' % (README, START, END))
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    new = '%s%s\n%s\n%s%s' % (head, START, contents(text), END, tail)
    if '--check' in argv:
        if new != text:
            sys.exit('README.md: the table of contents is stale; run scripts/readme-toc.py')
        return
    with open(README, 'w') as handle:
        handle.write(new)


if __name__ == '__main__':
    main(sys.argv[1:])
