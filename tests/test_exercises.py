"""The classroom kit: checkers (emmax_core.exercises), reference solutions, student stubs, student notebooks.

- Every reference solution (the code cell tagged `solution` in its chapter notebook) passes its checker.
- Every plausible wrong solution below (a sign error, a missing temperature, a wrong axis, ...) fails it, with
  the exercise's label, the case, expected vs got and a hint in the message.
- Every stub of the generated student notebooks fails its checker with the exercise's label in the message.
- `student/notebooks/` is what `scripts/make_student.py` writes from the chapters (regenerated and compared),
  and holds no solution text.

Solutions run here outside their chapter: a checked solution may use only its own imports and the functions
that the chapter defines before its exercises (such as chapter 04's `rank_term`).
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import emmax_core.exercises as ex

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_student  # noqa: E402

LABELS = {label: name for name, (label, _) in ex.EXERCISES.items()}
NAMES = sorted(ex.EXERCISES)


def _text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _chapter(name: str, student: bool = False) -> list[dict]:
    folder = ROOT / ("student/notebooks" if student else "notebooks")
    return json.loads((folder / f"{ex.EXERCISES[name][1]}.ipynb").read_text())["cells"]


def _chapter_helpers(cells) -> dict:
    """A namespace with the chapter's own helper functions: code cells made only of imports and defs."""
    ns = {"math": math, "np": np, "torch": torch}
    for cell in cells:
        if cell["cell_type"] != "code" or "solution" in cell["metadata"].get("tags", []):
            continue
        tree = ast.parse(_text(cell))
        if tree.body and all(isinstance(n, ast.FunctionDef) for n in tree.body):
            exec(compile(tree, "<chapter>", "exec"), ns)
    return ns


def _solution_cell(cells, name: str) -> str:
    hits = [_text(c) for c in cells if "solution" in c["metadata"].get("tags", [])
            and re.search(rf"^def {name}\(", _text(c), re.M)]
    assert len(hits) == 1, f"{name}: expected one code cell tagged 'solution' that defines it, found {len(hits)}"
    return hits[0]


def _stub_cell(cells, name: str) -> str:
    hits = [_text(c) for c in cells if "stub" in c["metadata"].get("tags", [])
            and re.search(rf"^def {name}\(", _text(c), re.M)]
    assert len(hits) == 1, f"{name}: expected one stub cell in the student notebook, found {len(hits)}"
    return hits[0]


def _load(name: str, source: str, cells) -> object:
    ns = _chapter_helpers(cells)
    exec(source, ns)
    return ns[name]


def test_at_least_15_checkers_one_per_exercise():
    assert len(ex.EXERCISES) >= 15
    assert sorted(ex.__all__[1:]) == sorted(f"check_{n}" for n in ex.EXERCISES)
    assert len({label for label, _ in ex.EXERCISES.values()}) == len(ex.EXERCISES)
    for name in NAMES:
        doc = getattr(ex, f"check_{name}").__doc__
        assert ex.EXERCISES[name][0] in doc and "chapter" in doc, name


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_its_checker(name, capsys):
    cells = _chapter(name)
    fn = _load(name, _solution_cell(cells, name), cells)
    getattr(ex, f"check_{name}")(fn)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(ex.EXERCISES[name][0]), out


@pytest.mark.parametrize("name", NAMES)
def test_chapter_calls_the_checker_in_a_visible_cell(name):
    cells = _chapter(name)
    label = ex.EXERCISES[name][0]
    calls = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
             and f"check_{name}({name})" in _text(c)]
    assert len(calls) == 1, f"{label}: one checker call per exercise"
    cell = cells[calls[0]]
    assert "checker" in cell["metadata"].get("tags", []) and "solution" not in cell["metadata"].get("tags", [])
    before = "".join(_text(c) for c in cells[:calls[0]] if c["cell_type"] == "markdown")
    assert before.rstrip().endswith(":::{solution-end}\n:::"), f"{label}: the checker call follows the solution"
    assert f":::{{solution-start}} {label}" in before


@pytest.mark.parametrize("name", NAMES)
def test_student_stub_fails_with_the_label(name):
    cells = _chapter(name, student=True)
    fn = _load(name, _stub_cell(cells, name), cells)
    with pytest.raises(NotImplementedError, match=re.escape(ex.EXERCISES[name][0])):
        getattr(ex, f"check_{name}")(fn)


# Plausible wrong solutions: each must fail its checker.
def _wrong_solutions():
    from emmax_core.evaluation.mining import margin_scores

    def masked_info_nce(sims, positive_index, temperature, mask):  # missing temperature
        logits = sims.masked_fill(mask, float("-inf"))
        return torch.nn.functional.cross_entropy(logits, positive_index)

    def momentum_update(key_encoder, online, momentum):  # m on the wrong side
        for xi, theta in zip(key_encoder.parameters(), online.parameters()):
            xi.mul_(1 - momentum).add_(theta, alpha=momentum)

    def enqueue(queue, ptr, keys):  # no wrap-around
        queue[ptr:ptr + len(keys)] = keys[: len(queue) - ptr]
        return queue, ptr + len(keys)

    def naive_log_joint(gmm, d):  # mixing logits used as log pi
        out = []
        for r in range(gmm.num_ranks):
            maha = ((d - gmm.means[r]) ** 2 / gmm.log_vars[r].exp()).sum(-1)
            out.append(gmm.mixing_logits[r] - 0.5 * (d.shape[1] * math.log(2 * math.pi)
                                                      + gmm.log_vars[r].sum() + maha))
        return torch.stack(out, -1)

    def nearest_rank(sims, rank_means):  # ties go to the higher rank
        dist = (sims[..., None] - rank_means).abs()
        return dist.shape[-1] - 1 - dist.flip(-1).argmin(-1)

    def expanded_log_joint(gmm, queries, candidates):  # sign error in the linear term
        w = torch.exp(-gmm.log_vars)
        mu_w = gmm.means * w
        cross = torch.einsum("bd,nd,qd->bqn", queries, w, candidates)
        lin = (queries @ mu_w.T)[:, None, :] - (candidates @ mu_w.T)[None]
        maha = ((queries ** 2) @ w.T)[:, None] + ((candidates ** 2) @ w.T)[None] - 2 * cross + 2 * lin \
            + (gmm.means * mu_w).sum(1)
        log_pi = torch.log_softmax(gmm.mixing_logits, 0)
        return log_pi - 0.5 * (gmm.dim * math.log(2 * math.pi) + gmm.log_vars.sum(1)) - 0.5 * maha

    def posteriors(gmm, queries, candidates):  # wrong axis
        return torch.softmax(gmm.log_joint(queries, candidates), dim=1)

    def my_interpolation_labels(lam, mixing_logits):  # a value on a boundary goes down
        bounds = torch.cumsum(torch.softmax(mixing_logits.float(), 0), 0)[:-1]
        return (lam.float()[..., None] > bounds).sum(-1)

    def smoothed_rank_ce(log_posteriors, labels, rank_confidence):  # eps / N instead of eps / (N - 1)
        keep = labels >= 0
        log_probs = torch.log_softmax(log_posteriors[keep], -1)
        n = log_probs.shape[-1]
        target = torch.full_like(log_probs, rank_confidence / n)
        target[torch.arange(int(keep.sum())), labels[keep]] = 1 - rank_confidence
        return -(target * log_probs).sum(-1).mean()

    def stable_rank_term(s, labels, r, tau):  # missing temperature
        positives = [j for j in range(len(s)) if labels[j] == r]
        if not positives:
            return -math.log(1e-7)
        den = sum(math.exp(s[k]) for k in range(len(s)) if 0 <= labels[k] <= r)
        return -math.log(sum(math.exp(s[j]) / den for j in positives) / len(positives) + 1e-7)

    def batch_loss(sims, labels, temperatures, exclude_empty_rows=False):  # one temperature for every rank
        from emmax_core.losses import ranking_info_nce
        return ranking_info_nce(sims, labels, [float(temperatures[0])] * len(temperatures), exclude_empty_rows)

    def my_rank_temperatures(num_ranks, tau_low=0.05, tau_high=0.1):  # reversed order
        if num_ranks == 2:
            return torch.tensor([tau_low])
        return torch.linspace(tau_low, tau_high, num_ranks - 1)

    def mono_top_precision(enc_labels, truth, partner, num_ranks):  # every row, not only monolingual ones
        top = enc_labels == num_ranks - 1
        return (top & truth).sum() / top.sum()

    def top_rank_scores(silver, pred, rank=3):  # precision and recall swapped
        hit = (pred == rank) & (silver == 3)
        return hit.sum() / (silver == 3).sum(), hit.sum() / max((pred == rank).sum(), 1)

    def acc_at_1(src, trg):  # dot product instead of cosine
        return float(((src @ trg.T).argmax(1) == np.arange(len(src))).mean())

    def my_margin_scores(src, trg, k=4):  # distance margin instead of ratio
        return margin_scores(src, trg, k=k, margin="distance")

    def isotropy(w):  # wrong axis: sums over the directions instead of the rows
        _, u = np.linalg.eigh(w.T @ w)
        z = np.exp(w @ u).sum(axis=1)
        return z.min() / z.max()

    def pick_precision(cuda, bf16):  # fp16 without CUDA
        return ("bf16" if bf16 else "fp16") if cuda else "fp16"

    return {name: fn for name, fn in locals().items() if name in ex.EXERCISES}


WRONG = _wrong_solutions()


def test_every_checker_has_a_wrong_solution():
    assert sorted(WRONG) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_wrong_solution_fails_its_checker(name):
    label = ex.EXERCISES[name][0]
    with pytest.raises(AssertionError) as err:
        getattr(ex, f"check_{name}")(WRONG[name])
    message = str(err.value)
    assert message.startswith(f"{label} {name}, case ") and "Hint:" in message, message
    assert "expected" in message and "got" in message, message


def test_failure_message_names_case_expected_and_got():
    with pytest.raises(AssertionError, match=r"ex-04-2 my_rank_temperatures, case 'N=2 ranks, tau=\(0.05, 0.1\)': "
                                             r"expected \[0.05\], got \[0.1\]\. Hint: "):
        ex.check_my_rank_temperatures(lambda n, lo=0.05, hi=0.1: torch.tensor([hi - (r - 1) * (hi - lo) / max(n - 2, 1)
                                                                               for r in range(1, n)]))


def test_student_notebooks_are_up_to_date():
    rc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), "--check"],
                        capture_output=True, text=True)
    assert rc.returncode == 0, rc.stdout + rc.stderr


def test_student_notebooks_hold_no_solution_text():
    total = 0
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        lines = make_student.solution_lines(json.loads(path.read_text()))
        total += len(lines)
        body = "\n".join(_text(c) for c in json.loads((ROOT / "student" / "notebooks" / path.name).read_text())["cells"])
        assert "solution" not in body.replace("solutions", ""), f"{path.name}: a solution marker survived"
        leaked = [ln for ln in lines if ln in body]
        assert not leaked, f"{path.name}: solution text in the student notebook: {leaked[:3]}"
    assert total > 100


def test_student_notebook_badges_point_at_their_own_path():
    for path in sorted((ROOT / "student" / "notebooks").glob("*.ipynb")):
        head = _text(json.loads(path.read_text())["cells"][0])
        assert f"/student/notebooks/{path.name})" in head, path.name


def test_stub_source_keeps_signature_and_raises_with_label():
    source, raises = make_student.stub_source("import torch\n\n\ndef f(a, b=2):\n    return a + b\n\nf(1)", "ex-x")
    assert not raises and "def f(a, b=2):" in source and 'NotImplementedError("ex-x:' in source
    assert "return a + b" not in source
    source, raises = make_student.stub_source("print(1)", "ex-y")
    assert raises and 'raise NotImplementedError("ex-y:' in source
