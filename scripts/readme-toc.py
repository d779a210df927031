"""Rewrite the table of contents of README.md (between <!-- toc --> and <!-- /toc -->) from its ## and ###
headings, with GitHub's anchors; --check only says whether it is current (exit 1 when not), so it cannot drift."""

import os
import re
import sys

import readme_block  # beside this script, on sys.path when it runs

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
    readme_block.rewrite(README, START, END, lambda text: contents(text) + '\n', argv,
                         'README.md: the table of contents is stale; run scripts/readme-toc.py')


if __name__ == '__main__':
    main(sys.argv[1:])
