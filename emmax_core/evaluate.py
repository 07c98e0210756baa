"""``python -m emmax_core.evaluate --model DIR [--baseline DIR ...] --output results.json``: XRETE-mini.

The options are in :func:`emmax_core.cli.evaluate_main` (every command line of the package is in
:mod:`emmax_core.cli`); the tasks are :func:`emmax_core.evaluation.suite.suite`.

Taught in: notebooks/07_evaluation.ipynb.
"""

import sys

from .cli import evaluate_main as main

if __name__ == "__main__":
    sys.exit(main())
