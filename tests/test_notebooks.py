"""Every chapter notebook runs top to bottom on CPU, offline, within a hard time limit, without errors.

The limit is a safety net well above the 3-minute reading budget (design.md section 4), not a speed
target; per-notebook wall times are written to `_build/notebook_times.json` for the record.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LIMIT_S = int(os.environ.get("EMMAX_NOTEBOOK_LIMIT_S", "420"))


def test_notebook_openings_are_in_sync_with_config():
    rc = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"],
                        capture_output=True, text=True)
    assert rc.returncode == 0, rc.stdout + rc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    for k, v in {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1",
                 "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=LIMIT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on any error
    wall = time.perf_counter() - start
    assert wall < LIMIT_S, f"{path.name} took {wall:.0f} s (limit {LIMIT_S} s)"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error" or "Traceback" in str(o.get("text", ""))]
    assert not errors, f"{path.name} printed errors: {errors[:1]}"
    out = ROOT / "_build" / "notebook_times.json"
    out.parent.mkdir(exist_ok=True)
    times = json.loads(out.read_text()) if out.exists() else {}
    times[path.stem] = round(wall, 1)
    out.write_text(json.dumps(times, indent=1, sort_keys=True))
