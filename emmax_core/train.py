"""``python -m emmax_core.train --config configs/tiny.yaml --output-dir DIR``: the three EMMA-X stages.

The options and their checks are in :func:`emmax_core.cli.train_main` (every command line of the package is in
:mod:`emmax_core.cli`); the training itself is :class:`emmax_core.trainer.EMMAXTrainer`.

Taught in: notebooks/05_em_iterations.ipynb and notebooks/10_scaling_up.ipynb.
"""

import sys

from .cli import train_main as main

if __name__ == "__main__":
    sys.exit(main())
