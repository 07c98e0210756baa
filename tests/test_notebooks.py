"""Every chapter opens the same way, derived from `_config.yml` (scripts/sync_notebooks.py).

Running the notebooks is the book build's job (tests/test_book.py builds the book once, with execution
forced, errors fatal and a per-cell timeout, then checks each notebook's run time and outputs), so they
are not executed a second time here.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebook_openings_are_in_sync_with_config():
    rc = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"],
                        capture_output=True, text=True)
    assert rc.returncode == 0, rc.stdout + rc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_imports_the_package_and_sets_up(path):
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert "colab-install" in cells[1]["metadata"].get("tags", []), "cell 2 must be the guarded Colab install"
    assert "emmax_core.env import" in code[1] and "setup(" in code[1], "cell 3 must call emmax_core.env.setup()"
    assert any("emmax_core" in c for c in code[2:]), "a chapter drives emmax_core"
    assert "google.colab" in code[0] and "torch" not in code[0].split("emmax-core")[0].split("pip")[-1]
