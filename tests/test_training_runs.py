"""Real runs of ``python -m emmax_core.train`` in subprocesses: killed and resumed, stage by stage, 2 processes.

Every run uses the tiny profile with a few steps of small batches (about 10-20 s each on 2 cores). The
uninterrupted one-process run is the reference: a run killed with SIGKILL (mid-EM, or inside a checkpoint
write) and resumed, and the three stages run as three commands, must end bitwise equal to it. Two CPU
processes (torchrun, gloo) stand in for two GPUs: they must equal one process that accumulates the same two
micro-batches per step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STEPS = {"init_steps": 4, "gmm_steps": 3, "em_steps": 24, "init_pairs_per_batch": 8, "em_pairs_per_batch": 4,
         "em_mono_per_batch": 8, "log_every": 1, "checkpoint_every": 2, "warmup_steps": 1, "em_warmup_steps": 1}
SETS = [arg for k, v in STEPS.items() for arg in ("--set", f"train.{k}={v}")] + ["--set", "ranks.queue_size=64"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}


def _cli(out, *extra, launcher=(sys.executable, "-m")):
    return [*launcher, "emmax_core.train", "--config", str(ROOT / "configs" / "tiny.yaml"), "--output-dir",
            str(out), *SETS, *extra]


def _run(cmd, timeout=300):
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _weights(folder: Path) -> dict:
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def _state(run: Path) -> dict:
    from emmax_core.checkpoint import read_checkpoint

    return read_checkpoint(run / "state")


def _assert_same_run(a: Path, b: Path, atol: float = 0.0) -> None:
    """Final and warm-up weights, queue, rank means, GMM and history of two runs agree (bitwise by default)."""
    for name in ("encoder-init", "final"):
        wa, wb = _weights(a / name), _weights(b / name)
        assert wa.keys() == wb.keys()
        for key in wa:
            torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=atol, msg=f"{name}/{key}")
    sa, sb = _state(a), _state(b)
    for part in ("queue", "rank_means", "gmm", "key_encoder"):
        for key in sa[part]:
            torch.testing.assert_close(sa[part][key], sb[part][key], rtol=0, atol=atol, msg=f"{part}.{key}")
    ha, hb = (json.loads((r / "history.json").read_text())["records"] for r in (a, b))
    assert [(r["stage"], r["step"], r["batch_digests"]) for r in ha] == \
           [(r["stage"], r["step"], r["batch_digests"]) for r in hb]
    if atol == 0.0:
        assert ha == hb


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted one-process run."""
    out = tmp_path_factory.mktemp("reference")
    _run(_cli(out))
    return out


def _progress(run: Path) -> dict | None:
    try:
        return json.loads((run / "state" / "COMPLETE").read_text())["progress"]
    except (OSError, ValueError):
        return None


def test_sigkill_mid_em_then_resume_equals_uninterrupted_run(reference, tmp_path):
    proc = subprocess.Popen(_cli(tmp_path), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        progress = _progress(tmp_path)
        if progress and progress["em"] >= 4:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-EM"
    killed_at = _progress(tmp_path)
    assert 4 <= killed_at["em"] < STEPS["em_steps"]
    assert not (tmp_path / "final").exists()
    _run(_cli(tmp_path, "--resume"))
    _assert_same_run(reference, tmp_path)


# Fault injection: run the CLI with one checkpoint function patched to SIGKILL the process at the Nth call.
_KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    import emmax_core.checkpoint as ck
    from emmax_core.train import main
    what, nth = sys.argv[1], int(sys.argv[2])
    calls = {"n": 0}
    real_save, real_replace = torch.save, ck.os.replace

    def save(obj, path, *a, **k):  # Accelerate's save_state writes the checkpoint's files with torch.save
        if what == "save" and str(path).endswith("state.tmp/optimizer.bin"):
            calls["n"] += 1
            if calls["n"] == nth:  # half a file, then death
                with open(path, "wb") as f:
                    f.write(b"partial")
                os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, path, *a, **k)

    def replace(src, dst):
        if what == "swap" and str(src).endswith("state.tmp"):
            calls["n"] += 1
            if calls["n"] == nth:  # the old state moved aside, the new one not yet in place
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    torch.save, ck.os.replace = save, replace
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.parametrize("what", ["save", "swap"])
def test_sigkill_inside_a_checkpoint_write_never_leaves_a_partial_checkpoint(reference, tmp_path, what):
    from emmax_core.checkpoint import find_state

    nth = 6  # the 6th checkpoint: EM step 4 (after init-encoder at 2 and 4, init-gmm at 2 and 3, EM step 2)
    cmd = [sys.executable, "-c", _KILLER, what, str(nth), *_cli(tmp_path, launcher=())[1:]]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    folder = find_state(tmp_path)
    assert folder is not None and folder.name == ("state" if what == "save" else "state.old")
    assert json.loads((folder / "COMPLETE").read_text())["progress"]["em"] == 2  # the previous good one
    if what == "save":  # the half-written one is not marked complete, so nothing can load it
        assert (tmp_path / "state.tmp").exists() and not (tmp_path / "state.tmp" / "COMPLETE").exists()
    _run(_cli(tmp_path, "--resume"))
    _assert_same_run(reference, tmp_path)


def test_three_stage_commands_equal_one_command(reference, tmp_path):
    for stage in ("init-encoder", "init-gmm", "em"):
        _run(_cli(tmp_path, "--stage", stage))
    _assert_same_run(reference, tmp_path)


def test_init_gmm_without_stage_one_is_refused_and_init_from_starts_it(reference, tmp_path):
    proc = subprocess.run(_cli(tmp_path / "empty", "--stage", "init-gmm"), cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "--init-from" in proc.stderr
    assert not (tmp_path / "empty" / "state").exists()
    _run(_cli(tmp_path / "given", "--stage", "init-gmm", "--init-from", str(reference)))
    records = json.loads((tmp_path / "given" / "history.json").read_text())["records"]
    assert {r["stage"] for r in records} == {"init-gmm"}


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("two")
    _run(_cli(out, launcher=(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m")))
    return out


def test_two_processes_draw_different_batches_and_equal_one_process_accumulating(two_processes, tmp_path):
    """2 processes x 1 micro-batch == 1 process x 2 micro-batches (same global batch stream).

    Tolerance: the only difference is how the two micro-batch gradients are summed (DDP's all-reduce of
    g0/2 and g1/2 vs accumulating g0/2 + g1/2 in one process), which is at most a float32 rounding per
    step; Adam can scale such a rounding up to about lr for a parameter whose gradient is ~0, so we allow
    1e-5 (lr is 5e-4). Measured: bitwise equal on CPU with one thread per process.
    """
    history = json.loads((two_processes / "history.json").read_text())
    assert history["world_size"] == 2
    digests = [r["batch_digests"] for r in history["records"]]
    assert all(len(d) == 2 and d[0] != d[1] for d in digests)  # each step: two different batches
    one = json.loads((two_processes / "state" / "COMPLETE").read_text())
    assert one["world_size"] == 2
    _run(_cli(tmp_path, "--set", "train.gradient_accumulation_steps=2"))
    _assert_same_run(two_processes, tmp_path, atol=1e-5)
    assert json.loads((tmp_path / "history.json").read_text())["world_size"] == 1
    queue = _state(two_processes)["queue"]
    assert int(queue["num_filled"]) == 64 and bool((queue["unit_ids"] >= 0).all())
    assert sorted(p.name for p in two_processes.iterdir()) == sorted(p.name for p in tmp_path.iterdir())


def test_two_process_run_resumes_exactly(two_processes, tmp_path):
    launcher = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m")
    _run(_cli(tmp_path, "--stop-after-steps", "12", launcher=launcher))  # 4 + 3 + 5 of 24 EM steps
    assert _progress(tmp_path) == {"init-encoder": 4, "init-gmm": 3, "em": 5}
    rng = ["random_states_0.pkl", "random_states_1.pkl"]  # each process's own RNG state
    assert sorted(p.name for p in (tmp_path / "state").glob("random_states_*.pkl")) == rng
    _run(_cli(tmp_path, "--resume", launcher=launcher))
    _assert_same_run(two_processes, tmp_path)
