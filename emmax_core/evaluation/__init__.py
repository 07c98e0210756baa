"""XRETE-mini: the small-scale evaluation suite and the geometry measures.

Evaluators follow sentence-transformers' contract (``evaluator(model) -> dict``, ``primary_metric``,
``greater_is_better``); each wraps pure numpy metric functions that also work on precomputed
embeddings. ``hub`` loads the colab profile's hub datasets (or local files in their schema).

Taught in: notebooks/07_evaluation.ipynb (tasks) and notebooks/08_geometry.ipynb (geometry)
"""

from .base import SentenceEvaluator, cosine_similarity_matrix, encode
from .baselines import BagOfSubwordsEncoder
from .classification import ZeroShotClassificationEvaluator, pair_features, zero_shot_classification
from .correlation import RankCorrelationEvaluator, rank_correlation
from .geometry import (
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
from .hub import HubDatasetUnavailableError, load_flores, load_sts17, load_tatoeba, load_xnli, nli_inputs
from .mining import MiningEvaluator, MiningTask, make_mining_task, margin_scores, mine_pairs, mining_f1
from .neighbourhood import NeighbourhoodEvaluator, neighbour_precision
from .retrieval import (
    MultilingualRetrievalEvaluator,
    RetrievalEvaluator,
    evaluate_bitext_by_language,
    retrieval_accuracy,
    translation_accuracy,
)

__all__ = [
    "BagOfSubwordsEncoder",
    "HubDatasetUnavailableError",
    "MiningEvaluator",
    "MiningTask",
    "MultilingualRetrievalEvaluator",
    "NeighbourhoodEvaluator",
    "RankCorrelationEvaluator",
    "RetrievalEvaluator",
    "SentenceEvaluator",
    "ZeroShotClassificationEvaluator",
    "average_cosine",
    "canonical_form",
    "cosine_similarity_matrix",
    "encode",
    "evaluate_bitext_by_language",
    "fit_gaussian",
    "gaussian_kl",
    "geometry_report",
    "invariance_kl",
    "language_id_accuracy",
    "language_kl_matrix",
    "load_flores",
    "load_sts17",
    "load_tatoeba",
    "load_xnli",
    "make_mining_task",
    "margin_scores",
    "mine_pairs",
    "mining_f1",
    "neighbour_precision",
    "nli_inputs",
    "pair_features",
    "partition_isotropy",
    "rank_correlation",
    "retrieval_accuracy",
    "top_pc_variance_ratio",
    "translation_accuracy",
    "translation_cosine_gap",
    "zero_shot_classification",
]
