"""Run the gradflow benchmark (same as ``gradflow bench``): python benchmarks/bench.py [--json]."""

import sys

from gradflow.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
