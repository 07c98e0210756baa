"""The noisy ORACLE (labelling.noisy_oracle_labels): labels at a requested precision and recall.

Checked on real EM batches of the tiny profile (translations known from the corpus), with the realised values
measured by the same diagnostics the trainer records (emmax_core.diagnostics.em_diagnostics).
"""

import pytest
import torch

from emmax_core.batches import build_sampler
from emmax_core.config import RankConfig, preset
from emmax_core.diagnostics import em_diagnostics
from emmax_core.experiment.registry import SWEEP_PRECISION, SWEEP_RECALL
from emmax_core.labelling import encoder_labels, noisy_oracle_labels, true_translations

N = 4


@pytest.fixture(scope="module")
def batch():
    """One EM batch (24 pairs + 48 unaligned rows) against it and a 768-key queue of later batches."""
    sampler = build_sampler(preset("tiny"))
    queries = sampler.em_batch(24, 48)
    queue = [sampler.em_batch(24, 48) for _ in range(11)]
    cand_units = torch.cat([queries.unit_ids] + [b.unit_ids for b in queue])[:72 + 768]
    cand_langs = torch.cat([queries.lang_ids] + [b.lang_ids for b in queue])[:72 + 768]
    truth = true_translations(queries.unit_ids, queries.lang_ids, cand_units, cand_langs)
    sims = torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    return queries, cand_langs, truth, sims


def _label(batch, precision, recall):
    queries, cand_langs, truth, sims = batch
    return encoder_labels("noisy_oracle", torch.zeros(*truth.shape, N), queries.partner, truth, N, sims=sims,
                          precision=precision, recall=recall)


def _realised(batch, labels):
    queries, cand_langs, truth, sims = batch
    d = em_diagnostics(sims, labels, labels, labels, truth, queries.partner, cand_langs, queries.lang_ids, N)
    return d["mono_top_precision"], d["mono_top_recall"], d["mono_top_labels"]


@pytest.mark.parametrize("precision", SWEEP_PRECISION)
@pytest.mark.parametrize("recall", SWEEP_RECALL)
def test_realised_precision_and_recall_match_the_request_on_unaligned_rows(batch, precision, recall):
    truth, partner = batch[2], batch[0].partner
    true_mono = int(truth[partner < 0].sum())
    assert true_mono > 50, "the batch should hold enough translations of unaligned rows to measure recall"
    got_p, got_r, n_top = _realised(batch, _label(batch, precision, recall))
    kept = round(recall * true_mono)
    assert got_r == pytest.approx(kept / true_mono) and abs(got_r - recall) <= 0.5 / true_mono + 1e-6
    assert n_top == kept + round(kept * (1 - precision) / precision)  # the pool of wrong pairs is not exhausted
    assert got_p == pytest.approx(precision, rel=0.05)


def test_rows_with_a_partner_get_the_requested_values_too(batch):
    queries, _, truth, sims = batch
    labels = noisy_oracle_labels(truth, sims, queries.partner, N, 0.3, 0.5)
    aligned = queries.partner >= 0
    latent = torch.ones_like(truth)
    latent[torch.arange(len(truth)), torch.arange(len(truth))] = False
    latent[aligned.nonzero().squeeze(1), queries.partner[aligned]] = False
    top, true = (labels == N - 1) & latent & aligned[:, None], truth & latent & aligned[:, None]
    assert int(true.sum()) > 10
    assert float((top & true).sum() / true.sum()) == pytest.approx(0.5, abs=0.5 / float(true.sum()) + 1e-6)
    assert float((top & true).sum() / top.sum()) == pytest.approx(0.3, rel=0.05)


def test_wrong_labels_are_the_most_similar_non_translations(batch):
    queries, _, truth, sims = batch
    top = noisy_oracle_labels(truth, sims, queries.partner, N, 0.03, 0.3) == N - 1
    mono = (queries.partner < 0)[:, None].expand_as(truth).clone()
    mono[torch.arange(len(truth)), torch.arange(len(truth))] = False
    wrong, spare = top & ~truth & mono, ~top & ~truth & mono
    assert int(wrong.sum()) > 100
    assert float(sims[wrong].min()) >= float(sims[spare].max())


def test_the_corner_is_the_oracle_and_zero_recall_labels_only_partners(batch):
    queries, _, truth, sims = batch
    oracle = encoder_labels("oracle", torch.zeros(*truth.shape, N), queries.partner, truth, N)
    assert torch.equal(_label(batch, 1.0, 1.0), oracle)
    none = _label(batch, 0.3, 0.0)
    expected = encoder_labels("ctl", torch.zeros(*truth.shape, N), queries.partner, truth, N)
    assert torch.equal(none, expected)


def test_draws_follow_torch_rng_and_differ_across_batches(batch):
    torch.manual_seed(3)
    a = _label(batch, 1.0, 0.3)
    torch.manual_seed(3)
    b = _label(batch, 1.0, 0.3)
    c = _label(batch, 1.0, 0.3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_requests_name_the_parameter(batch):
    queries, _, truth, sims = batch
    with pytest.raises(ValueError, match="precision=0"):
        noisy_oracle_labels(truth, sims, queries.partner, N, 0.0, 0.5)
    with pytest.raises(ValueError, match="needs sims"):
        encoder_labels("noisy_oracle", torch.zeros(*truth.shape, N), queries.partner, truth, N, precision=0.5)
    with pytest.raises(ValueError, match="oracle_recall"):
        RankConfig(labeller="noisy_oracle", oracle_recall=1.5)
