"""Geometry measures (standard measures, reconstructions of the paper's) against closed forms and explicit loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emmax_core.evaluation import (
    average_cosine,
    canonical_form,
    fit_gaussian,
    gaussian_kl,
    geometry_report,
    invariance_kl,
    language_id_accuracy,
    language_kl_matrix,
    partition_isotropy,
    top_pc_variance_ratio,
    translation_cosine_gap,
)


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _parallel(num_units=30, langs=("eng", "deu", "swh"), dim=8, noise=0.2, shift=0.0, seed=0):
    """Each unit has a meaning vector; each language adds noise and an optional language offset."""
    rng = np.random.default_rng(seed)
    meanings = rng.normal(size=(num_units, dim))
    emb, lang_col, unit_col = [], [], []
    for li, lang in enumerate(langs):
        offset = shift * np.eye(dim)[li]
        emb.append(meanings + offset + noise * rng.normal(size=meanings.shape))
        lang_col += [lang] * num_units
        unit_col += [f"u{u}" for u in range(num_units)]
    return np.vstack(emb), lang_col, unit_col


def test_gaussian_kl_closed_form_cases():
    d, mu = 4, np.array([1.0, -2.0, 0.5, 0.0])
    assert gaussian_kl(np.zeros(d), np.eye(d), mu, np.eye(d)) == pytest.approx(mu @ mu / 2)
    # KL(N(0, s^2 I) || N(0, I)) = d/2 (s^2 - 1 - ln s^2)
    assert gaussian_kl(np.zeros(d), 4 * np.eye(d), np.zeros(d), np.eye(d)) == pytest.approx(
        d / 2 * (4 - 1 - np.log(4))
    )
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    assert gaussian_kl(np.ones(2), cov, np.ones(2), cov) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_kl_matches_the_trace_and_solve_formula():
    rng = np.random.default_rng(3)
    for dim in (1, 3, 6):
        a, b = rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim))
        cov_a, cov_b = a @ a.T + 0.5 * np.eye(dim), b @ b.T + 0.5 * np.eye(dim)
        mean_a, mean_b = rng.normal(size=dim), rng.normal(size=dim)
        diff = mean_b - mean_a
        expected = 0.5 * (np.trace(np.linalg.solve(cov_b, cov_a)) + diff @ np.linalg.solve(cov_b, diff) - dim
                          + np.log(np.linalg.det(cov_b) / np.linalg.det(cov_a)))
        assert gaussian_kl(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-9)


def test_kl_invariance_is_zero_for_identical_and_grows_with_shift():
    x = np.random.default_rng(0).normal(size=(50, 6))
    assert invariance_kl(np.vstack([x, x]), ["a"] * 50 + ["b"] * 50) == pytest.approx(0.0, abs=1e-9)
    same = invariance_kl(*_parallel(num_units=200, shift=0.0)[:2])
    shifted = invariance_kl(*_parallel(num_units=200, shift=3.0)[:2])
    assert same < 0.2 and shifted > 10 * same
    with pytest.raises(ValueError, match="2 languages"):
        invariance_kl(x, ["a"] * 50)


def test_language_kl_matrix_matches_pairwise_gaussian_kl():
    emb, langs, _ = _parallel(num_units=40, shift=1.0)
    names, kl = language_kl_matrix(emb, langs, regularization=1e-3)
    langs = np.array(langs)
    for a, b in itertools.permutations(range(len(names)), 2):
        fa, fb = fit_gaussian(emb[langs == names[a]], 1e-3), fit_gaussian(emb[langs == names[b]], 1e-3)
        assert kl[a, b] == pytest.approx(gaussian_kl(*fa, *fb), rel=1e-8)
    assert np.all(np.diag(kl) == 0)
    with pytest.raises(ValueError, match="regularization"):
        fit_gaussian(emb, regularization="shrink")


def test_translation_cosine_gap_matches_brute_force():
    emb, langs, units = _parallel(num_units=6, noise=0.5)
    emb = np.vstack(
        [emb, emb[:2] + 0.1]
    )  # duplicates in the same (unit, lang) must not count as translations
    langs, units = langs + langs[:2], units + units[:2]
    trans, other = [], []
    for i, j in itertools.combinations(range(len(emb)), 2):
        if langs[i] != langs[j]:
            (trans if units[i] == units[j] else other).append(_cos(emb[i], emb[j]))
    got = translation_cosine_gap(emb, langs, units)
    assert got["translation_cosine"] == pytest.approx(np.mean(trans))
    assert got["random_cosine"] == pytest.approx(np.mean(other))
    assert got["cosine_gap"] == pytest.approx(np.mean(trans) - np.mean(other))
    assert got["cosine_gap"] > 0.3


def test_language_id_probe_separable_vs_mixed():
    mixed = _parallel(num_units=30, shift=0.0)
    separated = _parallel(num_units=30, shift=5.0)
    assert language_id_accuracy(*separated[:2]) == 1.0
    assert language_id_accuracy(*mixed[:2]) < 0.6  # chance is 1/3


def test_canonical_form_tight_beats_loose_and_matches_formula():
    tight, _, units = _parallel(noise=0.05)
    loose, _, _ = _parallel(noise=1.0)
    ct, cl = canonical_form(tight, units), canonical_form(loose, units)
    assert ct["calinski_harabasz"] > 10 * cl["calinski_harabasz"]
    assert ct["davies_bouldin"] < cl["davies_bouldin"]
    labels = np.array(units)
    centre, k, n = loose.mean(axis=0), len(set(units)), len(loose)
    between = sum(
        (labels == u).sum() * np.sum((loose[labels == u].mean(0) - centre) ** 2) for u in set(units)
    )
    within = sum(np.sum((loose[labels == u] - loose[labels == u].mean(0)) ** 2) for u in set(units))
    assert cl["calinski_harabasz"] == pytest.approx((between / (k - 1)) / (within / (n - k)))


def test_partition_isotropy_formula_and_extremes():
    rng = np.random.default_rng(0)
    small = rng.normal(size=(20, 3))
    _, vecs = np.linalg.eigh(small.T @ small)
    z = [sum(np.exp(c @ w) for w in small) for c in vecs.T]
    assert partition_isotropy(small) == pytest.approx(min(z) / max(z))
    isotropic = rng.normal(size=(4000, 8))
    cone = 10 * np.eye(8)[0] + 0.1 * rng.normal(size=(4000, 8))
    assert partition_isotropy(isotropic) > 0.85
    assert partition_isotropy(cone) < 1e-3


def test_average_cosine_and_top_pc_ratio():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 4))
    brute = np.mean([_cos(x[i], x[j]) for i, j in itertools.combinations(range(15), 2)])
    assert average_cosine(x) == pytest.approx(brute)
    assert average_cosine(1 + 0.01 * x) > 0.99
    isotropic = rng.normal(size=(3000, 8))
    assert top_pc_variance_ratio(isotropic) == pytest.approx(1 / 8, abs=0.03)
    assert top_pc_variance_ratio(isotropic * np.array([10.0] + [1.0] * 7)) > 0.9
    assert top_pc_variance_ratio(isotropic, num_components=8) == pytest.approx(1.0)


def test_geometry_report_keys():
    emb, langs, units = _parallel()
    report = geometry_report(emb, langs, units)
    assert set(report) == {
        "kl_divergence",
        "translation_cosine",
        "random_cosine",
        "cosine_gap",
        "language_id_accuracy",
        "language_id_chance",
        "calinski_harabasz",
        "davies_bouldin",
        "isotropy",
        "average_cosine",
        "top_pc_variance_ratio",
    }
    assert report["language_id_chance"] == pytest.approx(1 / 3)
    assert all(np.isfinite(v) for v in report.values())
    assert "language_id_accuracy" not in geometry_report(emb, langs, units, language_id=False)
