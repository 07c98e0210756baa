"""``python -m emmax_core.experiment``: the options are in :func:`emmax_core.cli.experiment_main`."""

import sys

from ..cli import experiment_main

sys.exit(experiment_main())
