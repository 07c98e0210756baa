"""The labellers of the encoder's ranks on a hand-made batch: EMMA-X, the controls and the variants."""

import pytest
import torch

from emmax_core.labelling import LABELLERS, encoder_labels, true_translations

# 3 queries (rows 0, 1, 2) and 5 candidates: the 3 in-batch keys (columns 0-2) and 2 queue keys (3, 4).
# Row 0 (eng, unit 0) has partner column 1 (fra, unit 0); row 2 (deu, unit 5) is monolingual.
# Queue: column 3 = spa unit 5 (a translation of row 2), column 4 = ita unit 9 (unrelated).
Q_UNITS, Q_LANGS = torch.tensor([0, 0, 5]), torch.tensor([0, 1, 2])
C_UNITS, C_LANGS = torch.tensor([0, 0, 5, 5, 9]), torch.tensor([0, 1, 2, 3, 4])
PARTNER = torch.tensor([1, 0, -1])
N = 4


def _inputs(gmm_ranks):
    log_post = torch.full((3, 5, N), -10.0)
    log_post.scatter_(2, torch.tensor(gmm_ranks)[..., None], 0.0)
    sims = torch.tensor([[1.0, 0.8, 0.1, 0.2, 0.3],
                         [0.8, 1.0, 0.1, 0.2, 0.3],
                         [0.1, 0.2, 1.0, 0.6, 0.7]])  # row 2's nearest neighbour is the wrong one (col 4)
    return log_post, sims


def _labels(labeller, gmm_ranks, sims=None, **kw):
    log_post, s = _inputs(gmm_ranks)
    truth = true_translations(Q_UNITS, Q_LANGS, C_UNITS, C_LANGS)
    return encoder_labels(labeller, log_post, PARTNER, truth, N, sims=s if sims is None else sims,
                          query_langs=Q_LANGS, cand_langs=C_LANGS, rm_labels=torch.tensor(gmm_ranks), **kw)


GMM = [[3, 1, 0, 2, 3], [1, 3, 0, 0, 2], [0, 0, 3, 2, 3]]


def test_the_module_describes_every_labeller():
    import emmax_core.labelling as labelling

    missing = [name for name in LABELLERS if f"``{name}``" not in labelling.__doc__]
    assert not missing, f"labelling's docstring does not describe {missing}"


def test_truth_is_same_unit_in_another_language():
    truth = true_translations(Q_UNITS, Q_LANGS, C_UNITS, C_LANGS)
    assert truth.tolist() == [[False, True, False, False, False], [True, False, False, False, False],
                              [False, False, False, True, False]]


def test_gmm_labels_are_argmax_with_partner_pinned_and_self_left_out():
    labels = _labels("gmm", GMM)
    assert labels.tolist() == [[-1, 3, 0, 2, 3], [3, -1, 0, 0, 2], [0, 0, -1, 2, 3]]


def test_partner_goes_through_clamp_ranks():
    with pytest.raises(ValueError, match="partner_index has a column >= num_candidates"):
        encoder_labels("ctl", *_inputs(GMM)[:1], torch.tensor([1, 0, 5]), torch.zeros(3, 5, dtype=torch.bool), N)


def test_controls_ctl_and_oracle():
    assert _labels("ctl", GMM).tolist() == [[-1, 3, 0, 0, 0], [3, -1, 0, 0, 0], [0, 0, -1, 0, 0]]
    assert _labels("oracle", GMM).tolist() == [[-1, 3, 0, 0, 0], [3, -1, 0, 0, 0], [0, 0, -1, 3, 0]]


def test_oracle_nn_keeps_only_correct_nearest_neighbours():
    # row 2's nearest cross-language neighbour is column 4 (unrelated): no top label; the true translation
    # in column 3 is not its nearest neighbour, so it stays rank 0 as well
    assert _labels("oracle_nn", GMM)[2].tolist() == [0, 0, -1, 0, 0]
    sims = _inputs(GMM)[1].clone()
    sims[2, 3] = 0.9  # now the nearest neighbour is the translation
    assert _labels("oracle_nn", GMM, sims=sims)[2].tolist() == [0, 0, -1, 3, 0]


def test_variants_drop_unchecked_gmm_positives():
    mnn = _labels("gmm_mnn", GMM)
    # column 4 and row 2 are mutual nearest neighbours (a wrong label: units 9 and 5); the GMM's other
    # positive (column 3, the true translation) lacks mutual-NN support and is ignored
    assert mnn[2].tolist() == [0, 0, -1, -1, 3]
    sims = _inputs(GMM)[1].clone()
    sims[0, 4] = sims[1, 4] = 0.95  # column 4 now prefers row 0 or 1: no longer mutual with row 2
    assert _labels("gmm_mnn", GMM, sims=sims)[2].tolist() == [0, 0, -1, -1, -1]
    topk = _labels("gmm_topk", GMM, topk=1)
    assert topk[2].tolist() == [0, 0, -1, -1, 3]  # the top-1 neighbour both modules rank high


def test_confidence_threshold_ignores_unsure_positives_and_unknown_labeller_is_an_error():
    log_post, _ = _inputs(GMM)
    log_post[2, 4] = torch.log(torch.tensor([0.2, 0.2, 0.2, 0.4]))  # unsure about column 4
    truth = true_translations(Q_UNITS, Q_LANGS, C_UNITS, C_LANGS)
    labels = encoder_labels("gmm", log_post, PARTNER, truth, N, confidence_threshold=0.5)
    assert labels[2, 4] == -1 and labels[2, 3] == 2
    with pytest.raises(ValueError, match="labeller='nope'"):
        encoder_labels("nope", log_post, PARTNER, truth, N)
    assert "oracle_nn" in LABELLERS


def test_curriculum_caps_the_top_rank_per_query_and_grows():
    ranks = [[3, 1, 3, 3, 3], [1, 3, 0, 0, 2], [3, 3, 3, 3, 3]]
    early = _labels("gmm_curriculum", ranks, progress=0.0, topk=3)
    late = _labels("gmm_curriculum", ranks, progress=1.0, topk=3)
    # row 2 (monolingual): the GMM puts 4 cross-language candidates in the top rank; early on only the most
    # similar (column 4, sim 0.7) stays there, the others drop to rank N-2 = 2
    assert early[2].tolist() == [2, 2, -1, 2, 3]
    assert late[2].tolist() == [2, 3, -1, 3, 3]  # k = 3: columns 4, 3 and 1 (sims 0.7, 0.6, 0.2)
    assert early[0, 1] == 3 and early[0, 0] == -1  # the partner stays top, the self key left out
    assert (early == 3).sum() < (late == 3).sum() <= (_labels("gmm", ranks) == 3).sum()
