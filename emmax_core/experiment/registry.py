"""The experiment as plain data: its runs, backbones, suites and the configuration of one experiment.

Every run is one override of the profile's preset (book: :ref:`experiment-runs`); the fold groups of a run
come from :func:`emmax_core.batches.fold_groups`. Nothing here trains or evaluates: the runner
(:mod:`emmax_core.experiment.runner`) does.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Every run of the experiment: name -> (description, config overrides on the tiny preset, paper-faithful?).
#: Runs whose third field is False are named deviations from the paper, reported beside it.
RUNS: dict[str, tuple[str, dict, bool]] = {
    "bag_of_subwords": ("bag of subwords (one-hot subword counts, no training)", {}, True),
    "warmup": ("warm-up only (stage 1 InfoNCE on parallel pairs)", {}, True),
    "infonce": ("plain InfoNCE continued on parallel pairs", {}, True),
    "ctl": ("MoCo control: same EM batches, every non-partner rank 0", {"ranks": {"labeller": "ctl"}}, True),
    "em": ("EMMA-X EM as specified (GMM pseudo-labels)", {}, True),
    "oracle": ("ORACLE: true translations labelled top rank", {"ranks": {"labeller": "oracle"}}, True),
    "oracle_nn": ("ORACLE top-1: top rank only where the nearest cross-language neighbour is a translation",
                  {"ranks": {"labeller": "oracle_nn"}}, True),
    "em_mnn": ("VARIANT (deviation): top rank only for GMM-gated mutual nearest neighbours",
               {"ranks": {"labeller": "gmm_mnn"}}, False),
    "em_topk": ("VARIANT (deviation): top rank for top-3 neighbours both modules rank high",
                {"ranks": {"labeller": "gmm_topk"}}, False),
    "em_curriculum": ("VARIANT (deviation): GMM labels, top rank capped to the 1..3 most similar per query",
                      {"ranks": {"labeller": "gmm_curriculum"}}, False),
    "em_n2": ("ablation: N = 2 ranks", {"ranks": {"num_ranks": 2}}, True),
    "em_n8": ("ablation: N = 8 ranks", {"ranks": {"num_ranks": 8}}, True),
    "em_fc": ("ablation: fully-connected rank classifier instead of the GMM", {"ranks": {"classifier": "fc"}}, True),
    "em_no_mono": ("ablation: EM without NON-PARALLEL rows", {"train": {"em_mono_per_batch": 0}}, True),
}
#: The precision-recall sweep (``make sweep``; book: :ref:`sweep-noisy-oracle`): the noisy ORACLE's requested
#: precision and recall of top-rank labels. They bracket the real labellers: EM as specified labels at about
#: (0.003, 0.1) on unaligned rows, ``oracle_nn`` at (1, 0.1), the high-precision variants near (0.25, 0.05). The
#: corner (1, 1) is the ORACLE itself, whose runs the sweep reuses.
SWEEP_PRECISION = (1.0, 0.3, 0.03, 0.003)
#: The sweep's requested recalls: the share of the true translations the noisy ORACLE labels top rank.
SWEEP_RECALL = (1.0, 0.3, 0.1, 0.03)


def sweep_run(precision: float, recall: float) -> str:
    """Run name of one sweep cell: ``"noisy_p0.3_r0.1"``, and ``"oracle"`` for the corner (1, 1)."""
    return "oracle" if (precision, recall) == (1.0, 1.0) else f"noisy_p{precision:g}_r{recall:g}"


RUNS.update({sweep_run(p, r): (f"noisy ORACLE: top-rank labels at precision {p:g}, recall {r:g}",
                               {"ranks": {"labeller": "noisy_oracle", "oracle_precision": p, "oracle_recall": r}},
                               True)
             for p in SWEEP_PRECISION for r in SWEEP_RECALL if sweep_run(p, r) != "oracle"})
#: Runs trained by the EM stages (stages 2 and 3) from a warm-up; the others are the warm-up itself, plain
#: InfoNCE continued from it, or the training-free bag of subwords.
EM_LIKE = tuple(name for name in RUNS if name not in ("bag_of_subwords", "warmup", "infonce"))
#: Version of the evaluation protocol; part of every cached evaluation's file name.
EVAL_VERSION = 1

#: Lever (a), a better backbone: name -> (description, overrides of the warm-up only, paper-faithful?).
#: EM-like runs on a backbone use the tiny preset's EM settings (unless BACKBONE_EM says otherwise); they are
#: reported as ``run@backbone`` with deltas against that backbone's own warm-up.
BACKBONES: dict[str, tuple[str, dict, bool]] = {
    "tiny": ("tiny XLM-R, 400 steps of xx-English InfoNCE (the default warm-up)", {}, True),
    "multiway": ("VARIANT (deviation): xx-yy pairs of any two PARALLEL languages (multi-way units)",
                 {"data": {"pairs": "multiway"}}, False),
    "mlm": ("VARIANT (deviation): InfoNCE + MLM on every language's text (one sentence per pair, 400 steps)",
            {"encoder": {"mlm": True}, "train": {"mlm_weight": 1.0}, "data": {"mlm_text": "all"}}, False),
    # English WordPiece: only Latin-script languages are meaningful (emmax_core.pretrained); ~13x slower.
    "minilm": ("VARIANT (deviation): pretrained English MiniLM-L6 from PyPI, 100 steps of 16 pairs at lr 3e-5; "
               "a Latin-script track", {"encoder": "pretrained:minilm",
                                        "train": {"init_steps": 100, "init_pairs_per_batch": 16, "lr": 3e-5,
                                                  "warmup_steps": 10}}, False),
    # the warm-up ladder (make sweep): the default warm-up trained longer, nothing else changed
    "steps1600": ("tiny XLM-R, 1,600 steps of xx-English InfoNCE (4x the default warm-up)",
                  {"train": {"init_steps": 1600}}, True),
    "steps3200": ("tiny XLM-R, 3,200 steps of xx-English InfoNCE (8x the default warm-up)",
                  {"train": {"init_steps": 3200}}, True),
}
#: The warm-up ladder's rungs above the default: backbones whose only change is more stage-1 steps.
LADDER = ("steps1600", "steps3200")
#: EM settings of a backbone whose EM cannot use the tiny preset's (a pretrained model wants a small lr).
BACKBONE_EM: dict[str, dict] = {
    "minilm": {"train": {"lr": 2e-5, "em_steps": 60, "em_pairs_per_batch": 8, "em_mono_per_batch": 16},
               "ranks": {"queue_size": 256}},
}

#: What each suite runs. ``headline`` (``make results``): the controls, EM as specified, the ORACLEs and the
#: named variants on both folds. ``levers`` (``make results-levers``): the ablations and lever (a)'s
#: backbones, with the runs they are read against. ``all``: both. ``sweep`` (``make sweep``): the noisy-ORACLE
#: grid, the real labellers it places, and the warm-up ladder (EM and ORACLE on each rung).
SUITES = ("headline", "levers", "all", "sweep")


def split_label(label: str) -> tuple[str, str]:
    """``"em@multiway"`` -> ``("em", "multiway")``; a plain run name is on the ``"tiny"`` backbone."""
    run, _, backbone = label.partition("@")
    return run, backbone or "tiny"


def run_label(run: str, backbone: str = "tiny") -> str:
    """The name a run is reported under: ``run`` on the default backbone, else ``run@backbone``."""
    return run if backbone == "tiny" else f"{run}@{backbone}"


def describe(label: str) -> tuple[str, bool]:
    """(description, paper-faithful?) of a reported run label."""
    run, backbone = split_label(label)
    text, faithful = RUNS[run][0], RUNS[run][2]
    if backbone != "tiny":
        text, faithful = f"{text}; backbone `{backbone}`: {BACKBONES[backbone][0]}", faithful and BACKBONES[backbone][2]
    return text, faithful


@dataclass(frozen=True)
class ExperimentConfig:
    """Which runs, seeds and folds; evaluation sample sizes; parallel workers.

    ``suite`` picks the jobs (:data:`SUITES`). Ablations run on ``ablation_folds`` only, except those in
    ``two_fold_ablations``, which get the fold swap.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    folds: tuple[str, ...] = ("A", "B")
    suite: str = "headline"
    main_runs: tuple[str, ...] = ("ctl", "em", "oracle", "oracle_nn", "em_mnn", "em_topk", "em_curriculum")
    # the runs a lever is read against (chapter 09 sets the ablations beside them)
    lever_baselines: tuple[str, ...] = ("ctl", "em", "oracle")
    ablations: tuple[str, ...] = ("em_fc", "em_n2", "em_n8", "em_no_mono")
    ablation_folds: tuple[str, ...] = ("A",)
    # em_fc was the one ablation ahead of EM on fold A, so it gets the fold swap
    two_fold_ablations: tuple[str, ...] = ("em_fc",)
    backbones: tuple[str, ...] = ("multiway", "mlm", "minilm")  # lever (a): warm-up variants besides "tiny"
    backbone_runs: tuple[str, ...] = ("em", "oracle")  # EM-like runs repeated on each backbone
    # Backbones measured by their warm-up and neighbourhood probe only: an EM step of MiniLM takes ~5 s on one
    # CPU thread, so its 12 EM runs (3 seeds x 2 folds x em/oracle) would add ~40 min on 2 cores; use a GPU.
    probe_only: tuple[str, ...] = ("minilm",)
    ladder: tuple[str, ...] = LADDER  # the sweep suite's warm-up rungs (backbones) besides "tiny"
    grid: tuple[tuple[float, float], ...] | None = None  # sweep cells (precision, recall); None: the full grid
    ladder_seeds: tuple[int, ...] = (0, 1)  # seeds of the rungs' warm-ups (3,200 steps: ~20 min, one thread)
    catalog_units: int = 80  # held-out / pool units sampled per catalog scope for evaluation
    workers: int = 2
    quick: bool = False  # tiny step counts, for tests
    profile: str = "tiny"  # "colab": the same experiment with xlm-roberta-base on a GPU (the paper's setting)
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.suite not in SUITES:
            raise ValueError(f"suite={self.suite!r}: use one of {SUITES}")

    def runs_on(self, fold: str) -> list[str]:
        """The EM-like runs of this experiment's suite on the tiny backbone and ``fold``."""
        if self.suite == "sweep":  # the grid, and the real labellers it places on the map
            cells = [sweep_run(p, r) for p, r in self.grid or [(p, r) for p in SWEEP_PRECISION for r in SWEEP_RECALL]]
            return list(dict.fromkeys([*self.main_runs, *cells]))
        headline = self.suite in ("headline", "all")
        runs = list(self.main_runs if headline else self.lever_baselines)
        if self.suite != "headline":
            runs += [r for r in self.ablations if fold in self.ablation_folds or r in self.two_fold_ablations]
        return list(dict.fromkeys(runs))

    @property
    def lever_backbones(self) -> tuple[str, ...]:
        """The backbones besides "tiny" this suite runs: lever (a)'s, the sweep's ladder, none in the headline."""
        return {"headline": (), "sweep": self.ladder}.get(self.suite, self.backbones)
