"""The partition move figure of `make bench`: how long writes pause at the switch of a 1M-row partition.

The move is the one tests/integration/test_partition_move.py makes under a writer (inserts and updates through
the coordinator in a loop, on throw-away clusters): run with PGDIST_MOVE_ROWS rows, its report line is read.

  move_pause_ms     writes to the table paused at the switch, in ms                          goal < 1000
"""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = 'tests/integration/test_partition_move.py::test_move_under_writes_keeps_every_row'
REPORT = re.compile(r'move of items_p0 under writes: ([\d.]+)s for the whole playbook, writes paused ([\d.]+)s '
                    r'at the switch .*?slowest writer statement ([\d.]+)s')


def move_figures(args, figures, table, log):
    rows = args.move_rows
    log('partition move of a %d-row partition under a writer' % (rows // 2))
    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-s', '-p', 'no:cacheprovider', TEST], cwd=REPO,
                          env=dict(os.environ, PGDIST_MOVE_ROWS=str(rows)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    found = REPORT.search(done.stdout)
    if done.returncode or not found:
        raise SystemExit('the partition move failed:\n%s' % done.stdout[-4000:])
    whole, pause, slowest = (float(value) for value in found.groups())
    table.append(('partition move, %d rows, under a writer' % (rows // 2), '%.1f s' % whole,
                  'writes paused %.0f ms at the switch; slowest writer statement %.0f ms; no writer error, '
                  'every committed row there' % (1000 * pause, 1000 * slowest)))
    figures['move_pause_ms'] = 1000 * pause
