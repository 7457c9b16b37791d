"""`python -m opbench.sass`: the documented entry point of opbench.static.sass."""

import sys

from opbench.static.sass import main

if __name__ == "__main__":
    sys.exit(main())
