"""What every checker shares: the exercise registry, the comparison with a hint, the success line."""

from __future__ import annotations

import numpy as np
import torch

# Function name -> (exercise label, chapter notebook); the package exports it as emmax_core.exercises.EXERCISES.
EXERCISES: dict[str, tuple[str, str]] = {
    "masked_info_nce": ("ex-02-1", "02_encoders_and_init"),
    "momentum_update": ("ex-02-momentum", "02_encoders_and_init"),
    "enqueue": ("ex-02-queue", "02_encoders_and_init"),
    "naive_log_joint": ("ex-03-1", "03_ranks_and_gmm"),
    "nearest_rank": ("ex-03-2", "03_ranks_and_gmm"),
    "expanded_log_joint": ("ex-03-expanded", "03_ranks_and_gmm"),
    "posteriors": ("ex-03-posteriors", "03_ranks_and_gmm"),
    "my_interpolation_labels": ("ex-03-interpolation", "03_ranks_and_gmm"),
    "smoothed_rank_ce": ("ex-03-smoothing", "03_ranks_and_gmm"),
    "stable_rank_term": ("ex-04-rank-term", "04_ranking_infonce"),
    "batch_loss": ("ex-04-1", "04_ranking_infonce"),
    "my_rank_temperatures": ("ex-04-2", "04_ranking_infonce"),
    "mono_top_precision": ("ex-05-precision", "05_em_iterations"),
    "top_rank_scores": ("ex-06-confusion", "06_rank_visualizations"),
    "acc_at_1": ("ex-07-1", "07_evaluation"),
    "my_margin_scores": ("ex-07-margin", "07_evaluation"),
    "isotropy": ("ex-08-isotropy", "08_geometry"),
    "pick_precision": ("ex-10-precision", "10_scaling_up"),
}


def _as_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy() if x.dtype != torch.bool else x.cpu().numpy()
    return np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) or x.dtype != bool else x


def _short(x) -> str:
    a = np.asarray(_as_array(x))
    with np.printoptions(precision=5, suppress=True, threshold=12, edgeitems=3):
        text = str(a) if a.ndim else f"{float(a):.6g}"
    return text.replace("\n", " ")


def _expect(name: str, case: str, expected, got, hint: str, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Raise an AssertionError naming the exercise and the case unless `got` matches `expected`."""
    label = EXERCISES[name][0]
    head = f"{label} {name}, case {case!r}: "
    exp = _as_array(expected)
    try:
        arr = _as_array(got)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{head}expected an array-like of shape {exp.shape}, got {type(got).__name__} "
                             f"({err}). Hint: {hint}") from None
    if arr.shape != exp.shape:
        raise AssertionError(f"{head}expected shape {exp.shape}, got shape {arr.shape}. Hint: {hint}")
    if not np.allclose(arr, exp, atol=atol, rtol=rtol, equal_nan=True):
        raise AssertionError(f"{head}expected {_short(exp)}, got {_short(arr)}. Hint: {hint}")


def _done(name: str, cases: int, reference: str) -> None:
    print(f"{EXERCISES[name][0]} {name}: all {cases} cases match {reference}")


def _random_labels(b, q, ranks, g):
    labels = torch.randint(0, ranks, (b, q), generator=g)
    labels[torch.arange(min(b, q)), torch.arange(min(b, q))] = -1
    return labels
