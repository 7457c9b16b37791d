"""`python -m opbench.cpucost`: the documented entry point of opbench.static.cpucost."""

import sys

from opbench.static.cpucost import main

if __name__ == "__main__":
    sys.exit(main())
