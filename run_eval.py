#!/usr/bin/env python
"""pit_eval command line; see README.md or ``python run_eval.py -h``."""
import sys

from pit_eval.cli import main

if __name__ == "__main__":
    sys.exit(main())
