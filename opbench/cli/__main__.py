"""`python -m opbench.cli`: the `opbench` command."""

import sys

from opbench.cli import entry

sys.exit(entry())
