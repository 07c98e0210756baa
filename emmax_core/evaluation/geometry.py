"""Geometry of the shared space: invariance, canonical form and isotropy (EMMA-X's three requirements).

The paper analyses its representation space against these three requirements, on FLORES-200, where each
source sentence and its translations form a "semantic cluster". This book does not reproduce the paper's
exact definitions: every formula here is a standard measure of the named property (a reconstruction), not
the paper's code.

* Invariance (same meaning, same place, whatever the language): KL divergence between Gaussians
  fitted per language (lower is better), the translation-minus-random cosine gap (higher is better)
  and a language-ID probe's accuracy (lower is better: the language should be hard to read off).
* Canonical form (translations form compact, separated groups): Calinski-Harabasz with translation
  groups as clusters (higher is better) and Davies-Bouldin (lower is better).
* Isotropy (directions used evenly, no narrow cone): partition-function isotropy of Mu & Viswanath
  (2018) (closer to 1 is better), the average cosine of pairs (closer to 0) and the variance share
  of the top principal component (lower is better).

Taught in: notebooks/08_geometry.ipynb
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from .base import l2_normalize


def fit_gaussian(x: np.ndarray, regularization: str | float = "ledoit_wolf") -> tuple[np.ndarray, np.ndarray]:
    """Mean and regularised covariance of ``x`` (needed: a language has fewer sentences than dims).

    Args:
        x: ``(n, dim)`` samples, ``n >= 2``.
        regularization: ``"ledoit_wolf"`` (sklearn shrinkage) or a ridge ``eps`` added to the diagonal.

    Returns:
        ``(mean (dim,), covariance (dim, dim))``.

    Taught in: notebooks/08_geometry.ipynb
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must be (n, dim) with n >= 2, got shape {x.shape}.")
    if regularization == "ledoit_wolf":
        return x.mean(axis=0), LedoitWolf().fit(x).covariance_
    if isinstance(regularization, (int, float)) and regularization >= 0:
        return x.mean(axis=0), np.cov(x, rowvar=False) + regularization * np.eye(x.shape[1])
    raise ValueError(f"regularization must be 'ledoit_wolf' or a ridge >= 0, got {regularization!r}.")


def gaussian_kl(mean_a, cov_a, mean_b, cov_b) -> float:
    """KL(N_a || N_b) = 1/2 [tr(S_b^-1 S_a) + (m_b - m_a)^T S_b^-1 (m_b - m_a) - dim + ln det S_b / det S_a].

    Args:
        mean_a, mean_b: ``(dim,)``.
        cov_a, cov_b: ``(dim, dim)`` positive definite.

    Returns:
        The divergence in nats (>= 0; 0 iff the Gaussians are equal).

    Taught in: notebooks/08_geometry.ipynb
    """
    cov_a, cov_b = np.asarray(cov_a, dtype=np.float64), np.asarray(cov_b, dtype=np.float64)
    return _kl_to(np.asarray(mean_a, dtype=np.float64), cov_a, np.linalg.slogdet(cov_a)[1],
                  np.asarray(mean_b, dtype=np.float64), np.linalg.inv(cov_b), np.linalg.slogdet(cov_b)[1])


def _kl_to(mean_a, cov_a, logdet_a, mean_b, precision_b, logdet_b) -> float:
    """:func:`gaussian_kl` from ``N_b``'s precision ``S_b^-1`` and both log-determinants (O(dim^2) per pair)."""
    diff = mean_b - mean_a
    return float(0.5 * (np.sum(precision_b * cov_a) + diff @ precision_b @ diff - len(diff) + logdet_b - logdet_a))


def language_kl_matrix(
    embeddings, langs, regularization: str | float = "ledoit_wolf"
) -> tuple[list[str], np.ndarray]:
    """KL divergence between the per-language Gaussians of every ordered language pair.

    Args:
        embeddings: ``(n, dim)``.
        langs: ``n`` language codes (each language needs >= 2 rows).
        regularization: see :func:`fit_gaussian`.

    Returns:
        ``(languages, kl)`` with ``kl[a, b] = KL(N_a || N_b)``, shape ``(L, L)``, zero diagonal.

    Taught in: notebooks/08_geometry.ipynb
    """
    x, langs = np.asarray(embeddings, dtype=np.float64), np.asarray(langs)
    names = sorted(set(langs.tolist()))
    fits = [fit_gaussian(x[langs == name], regularization) for name in names]
    # Precision matrices and log-determinants once per language, so each pair costs O(dim^2).
    precisions = [np.linalg.inv(cov) for _, cov in fits]
    logdets = [np.linalg.slogdet(cov)[1] for _, cov in fits]
    kl = np.zeros((len(names), len(names)))
    for a, (mean_a, cov_a) in enumerate(fits):
        for b, (mean_b, _) in enumerate(fits):
            if a != b:
                kl[a, b] = _kl_to(mean_a, cov_a, logdets[a], mean_b, precisions[b], logdets[b])
    return names, kl


def invariance_kl(embeddings, langs, regularization: str | float = "ledoit_wolf") -> float:
    """Mean KL divergence over ordered pairs of different languages (= mean symmetric KL); lower is better.

    Taught in: notebooks/08_geometry.ipynb
    """
    names, kl = language_kl_matrix(embeddings, langs, regularization)
    if len(names) < 2:
        raise ValueError("langs must contain at least 2 languages to measure invariance.")
    return float(kl[~np.eye(len(names), dtype=bool)].mean())


def _within_group_cosines(x: np.ndarray, keys) -> tuple[float, int]:
    """Sum of cosines over all unordered pairs of rows sharing a key, and the number of such pairs.

    Uses sum_{i<j} v_i.v_j = (|sum v|^2 - sum |v|^2) / 2 per group: exact, O(n dim), no sampling.
    """
    _, groups = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    sums = np.zeros((groups.max() + 1, x.shape[1]))
    np.add.at(sums, groups, x)
    counts = np.bincount(groups)
    total = (np.sum(sums * sums) - np.sum(x * x)) / 2
    return float(total), int(np.sum(counts * (counts - 1) // 2))


def translation_cosine_gap(embeddings, langs, unit_ids) -> dict[str, float]:
    """Mean cosine of translation pairs minus mean cosine of other cross-lingual pairs (exact, all pairs).

    Args:
        embeddings: ``(n, dim)``.
        langs: ``n`` language codes.
        unit_ids: ``n`` meaning ids (same id in two languages = translations).

    Returns:
        ``{"translation_cosine", "random_cosine", "cosine_gap"}``; pairs always span two languages.

    Taught in: notebooks/08_geometry.ipynb
    """
    x = l2_normalize(embeddings)
    langs, units = np.asarray(langs, dtype=str), np.asarray(unit_ids, dtype=str)
    all_sum, all_n = _within_group_cosines(x, np.zeros(len(x), dtype=int))
    lang_sum, lang_n = _within_group_cosines(x, langs)
    unit_sum, unit_n = _within_group_cosines(x, units)
    unit_lang_sum, unit_lang_n = _within_group_cosines(x, np.char.add(np.char.add(units, "\x1f"), langs))
    trans_sum, trans_n = unit_sum - unit_lang_sum, unit_n - unit_lang_n
    other_sum, other_n = all_sum - lang_sum - trans_sum, all_n - lang_n - trans_n
    if trans_n == 0 or other_n == 0:
        raise ValueError("need at least one translation pair and one non-translation cross-lingual pair.")
    translation, random = trans_sum / trans_n, other_sum / other_n
    return {"translation_cosine": translation, "random_cosine": random, "cosine_gap": translation - random}


def language_id_accuracy(embeddings, langs, folds: int = 3, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic-regression probe predicting the language; lower = more invariant.

    Args:
        embeddings: ``(n, dim)``.
        langs: ``n`` language codes (chance level is ``1 / number of languages`` when balanced).
        folds: stratified folds (reduced to the smallest language's size, at least 2).
        seed: fold shuffling seed.

    Taught in: notebooks/08_geometry.ipynb
    """
    langs = np.asarray(langs)
    folds = min(folds, int(np.unique(langs, return_counts=True)[1].min()))
    if folds < 2:
        raise ValueError("every language needs >= 2 rows for the language-ID probe.")
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probe = LogisticRegression(max_iter=1000)
    return float(cross_val_score(probe, np.asarray(embeddings), langs, cv=cv).mean())


def canonical_form(embeddings, unit_ids) -> dict[str, float]:
    """Calinski-Harabasz (higher is better) and Davies-Bouldin (lower is better), translation groups as clusters.

    ``CH = [tr(S_B) / (k - 1)] / [tr(S_W) / (n - k)]`` with between/within scatter ``S_B``/``S_W``.

    Args:
        embeddings: ``(n, dim)``.
        unit_ids: ``n`` cluster labels (between 2 and n - 1 distinct values).

    Taught in: notebooks/08_geometry.ipynb
    """
    x, labels = np.asarray(embeddings), np.asarray(unit_ids, dtype=str)
    if not 2 <= len(set(labels.tolist())) < len(labels):
        raise ValueError(
            "unit_ids must have between 2 and n - 1 distinct values (clusters with translations)."
        )
    return {
        "calinski_harabasz": float(calinski_harabasz_score(x, labels)),
        "davies_bouldin": float(davies_bouldin_score(x, labels)),
    }


def partition_isotropy(embeddings) -> float:
    """Mu & Viswanath (2018): ``I = min_c Z(c) / max_c Z(c)``, ``Z(c) = sum_i exp(c^T w_i)``, c over eigenvectors of ``W^T W``.

    1 means isotropic; a narrow cone far from the origin gives ~0. For unit-norm rows ``|c^T w| <= 1``,
    so ``I >= exp(-2)``: compare models on the same footing.

    Args:
        embeddings: ``(n, dim)`` rows ``w_i`` (used as given: not centred, not normalised).

    Taught in: notebooks/08_geometry.ipynb
    """
    w = np.asarray(embeddings, dtype=np.float64)
    _, eigenvectors = np.linalg.eigh(w.T @ w)
    log_z = logsumexp(w @ eigenvectors, axis=0)  # log-space: exp(c^T w) overflows for long vectors
    return float(np.exp(log_z.min() - log_z.max()))


def average_cosine(embeddings) -> float:
    """Mean cosine over all pairs of distinct rows (exact); ~0 for isotropic data, near 1 in a narrow cone.

    Taught in: notebooks/08_geometry.ipynb
    """
    total, count = _within_group_cosines(l2_normalize(embeddings), np.zeros(len(embeddings), dtype=int))
    return total / count


def top_pc_variance_ratio(embeddings, num_components: int = 1) -> float:
    """Share of the total variance along the top ``num_components`` principal components (1/dim if isotropic).

    Taught in: notebooks/08_geometry.ipynb
    """
    x = np.asarray(embeddings, dtype=np.float64)
    eigenvalues = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    return float(eigenvalues[:num_components].sum() / eigenvalues.sum())


def geometry_report(
    embeddings,
    langs,
    unit_ids,
    regularization: str | float = "ledoit_wolf",
    language_id: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """All geometry measures at once (standard measures, reconstructions of the paper's; see the module).

    Args:
        embeddings: ``(n, dim)``, e.g. FLORES-200 devtest (or the shipped corpus) for ~10 languages.
        langs: ``n`` language codes.
        unit_ids: ``n`` meaning ids.
        regularization: covariance regularisation for the KL (see :func:`fit_gaussian`).
        language_id: also fit the language-ID probe (the slowest measure).
        seed: probe folds seed.

    Returns:
        ``kl_divergence``, ``translation_cosine``, ``random_cosine``, ``cosine_gap``,
        ``language_id_accuracy`` and ``language_id_chance`` (if asked), ``calinski_harabasz``,
        ``davies_bouldin``, ``isotropy``, ``average_cosine``, ``top_pc_variance_ratio``.

    Taught in: notebooks/08_geometry.ipynb
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if not len(x) == len(langs) == len(unit_ids):
        raise ValueError("embeddings, langs and unit_ids must have the same length.")
    report = {"kl_divergence": invariance_kl(x, langs, regularization)}
    report.update(translation_cosine_gap(x, langs, unit_ids))
    if language_id:
        report["language_id_accuracy"] = language_id_accuracy(x, langs, seed=seed)
        report["language_id_chance"] = float(np.max(np.unique(langs, return_counts=True)[1]) / len(langs))
    report.update(canonical_form(x, unit_ids))
    report.update(
        isotropy=partition_isotropy(x),
        average_cosine=average_cosine(x),
        top_pc_variance_ratio=top_pc_variance_ratio(x),
    )
    return report
