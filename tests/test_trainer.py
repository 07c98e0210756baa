"""The EM trainer end to end on the fixture corpus: artefacts, diagnostics, controls, exact resume."""

import json

import pandas as pd
import pytest
import torch

from emmax_core.batches import CorpusSampler
from emmax_core.config import tiny
from emmax_core.trainer import EMMAXTrainer, resolve_precision

PARALLEL = ["spa", "deu", "fra", "rus", "cmn", "arb"]
NON_PARALLEL = ["ell", "heb", "hin", "tha"]


def _sampler(rows, seed=0):
    df = pd.DataFrame(rows)
    eng = df[df.lang == "eng"].set_index("unit_id")["text"]
    pairs = df[df.lang.isin(PARALLEL)].copy()
    pairs["pivot_text"] = pairs["unit_id"].map(eng)
    mono = df[df.lang.isin(NON_PARALLEL + ["eng"])][["unit_id", "source", "lang", "text"]]
    units = {u: i for i, u in enumerate(sorted(df.unit_id.unique()))}
    langs = {g: i for i, g in enumerate(sorted(df.lang.unique()))}
    return CorpusSampler(pairs, mono, units, langs, seed=seed, udhr_batch_prob=0.2, em_sources=None)


def _config(**ranks):
    return tiny().replace(
        train={"init_steps": 4, "gmm_steps": 3, "em_steps": 4, "init_pairs_per_batch": 6,
               "em_pairs_per_batch": 4, "em_mono_per_batch": 4, "log_every": 1, "checkpoint_every": 2,
               "warmup_steps": 1, "em_warmup_steps": 1, "lr": 1e-3},
        ranks={"queue_size": 10, **ranks})


def _trainer(tmp, rows, make_tiny_encoder, **ranks):
    return EMMAXTrainer(_config(**ranks), tmp, encoder=make_tiny_encoder(seed=0), sampler=_sampler(rows),
                        show_progress_bar=False)


def test_all_stages_write_artefacts_and_history(tmp_path, fixture_rows, make_tiny_encoder):
    history = _trainer(tmp_path, fixture_rows, make_tiny_encoder).train()
    for name in ("encoder-init", "final"):
        assert (tmp_path / name / "emmax_config.json").exists()
        assert (tmp_path / name / "rank_classifier.pt").exists()
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [r["stage"] for r in saved["records"]] == [r["stage"] for r in history]
    em = [r for r in history if r["stage"] == "em"]
    assert len(em) == 4
    means = em[-1]["rank_means"]
    assert all(a < b for a, b in zip(means, means[1:])), means
    for key in ("loss_rank", "loss_gmm", "agreement", "partner_acc", "top_share", "precision_r3", "recall_r3",
                "mono_top_precision", "mono_nn_precision", "gmm_counts", "mixing_weights"):
        assert key in em[-1], key
    assert sum(em[-1]["gmm_counts"]) > 0
    assert not (tmp_path / "state.tmp").exists()


def test_final_encoder_differs_from_init(tmp_path, fixture_rows, make_tiny_encoder):
    from emmax_core.encoder import SentenceEncoder

    _trainer(tmp_path, fixture_rows, make_tiny_encoder).train()
    a = SentenceEncoder.from_pretrained(tmp_path / "encoder-init").encode(["Settings", "Настройки"])
    b = SentenceEncoder.from_pretrained(tmp_path / "final").encode(["Settings", "Настройки"])
    assert a.shape == b.shape == (2, 32)
    assert not torch.allclose(torch.tensor(a), torch.tensor(b))


class _Interrupt(Exception):
    pass


def test_resume_mid_em_reproduces_uninterrupted_run(tmp_path, fixture_rows, make_tiny_encoder):
    straight = _trainer(tmp_path / "a", fixture_rows, make_tiny_encoder)
    straight.train()
    broken = _trainer(tmp_path / "b", fixture_rows, make_tiny_encoder)
    calls = {"n": 0}
    original = broken.sampler.em_batch

    def em_batch(*a, **k):  # die during EM step 3, after the step-2 checkpoint
        calls["n"] += 1
        if calls["n"] > 3 + 2:  # 3 GMM warm-up batches, then 2 EM batches
            raise _Interrupt
        return original(*a, **k)

    broken.sampler.em_batch = em_batch
    with pytest.raises(_Interrupt):
        broken.train()
    assert json.loads((tmp_path / "b" / "history.json").read_text())["records"][-1]["step"] == 2
    resumed = _trainer(tmp_path / "b", fixture_rows, make_tiny_encoder)
    resumed.train(resume=True)
    for (name, p), (_, q) in zip(straight._raw_encoder.state_dict().items(),
                                 resumed._raw_encoder.state_dict().items()):
        torch.testing.assert_close(p, q, msg=name)
    torch.testing.assert_close(straight.queue.keys, resumed.queue.keys)
    torch.testing.assert_close(straight.rank_means.rank_means, resumed.rank_means.rank_means)
    assert [r["step"] for r in straight.history] == [r["step"] for r in resumed.history]


@pytest.mark.parametrize("ranks", [{"labeller": "oracle"}, {"labeller": "ctl"}, {"num_ranks": 2},
                                   {"classifier": "fc"}, {"exclude_empty_rows": True}, {"labeller": "oracle_nn"},
                                   {"labeller": "gmm_curriculum"}, {"labeller": "gmm_mnn"}])
def test_controls_and_ablations_run(tmp_path, fixture_rows, make_tiny_encoder, ranks):
    history = _trainer(tmp_path, fixture_rows, make_tiny_encoder, **ranks).train()
    last = history[-1]
    assert last["stage"] == "em" and torch.isfinite(torch.tensor(last["loss_rank"]))
    if ranks.get("labeller") in ("oracle", "oracle_nn"):
        assert last["mono_top_precision"] in (1.0,) or last["mono_top_labels"] == 0
    if ranks.get("labeller") == "ctl":
        assert last["top_share"] == 0.0


def test_stage_without_earlier_state_is_a_clear_error(tmp_path, fixture_rows, make_tiny_encoder):
    with pytest.raises(FileNotFoundError, match="--stage all"):
        _trainer(tmp_path, fixture_rows, make_tiny_encoder).train("em")


def test_precision_is_automatic_and_fp16_needs_cuda():
    if not torch.cuda.is_available():
        assert resolve_precision("auto") == "no"
        with pytest.raises(ValueError, match="mixed_precision"):
            resolve_precision("fp16")


def test_multiway_pairs_join_two_languages_of_one_unit(fixture_rows):
    plain, multi = _sampler(fixture_rows), _sampler(fixture_rows)
    multi.multiway = True
    lang_of = {i: g for g, i in multi.lang_index.items()}
    left_langs = set()
    for _ in range(20):
        b = multi.parallel_batch(6)
        p = b.num_pairs
        assert torch.equal(b.unit_ids[:p], b.unit_ids[p:])  # both sides: the same meaning
        assert bool((b.lang_ids[:p] != b.lang_ids[p:]).all())  # in two different languages
        left_langs |= {lang_of[int(i)] for i in b.lang_ids[:p]}
    assert left_langs - {"eng"}  # not only English on the left: xx-yy pairs
    assert {lang_of[int(i)] for i in plain.parallel_batch(6).lang_ids[:6]} == {"eng"}  # the paper's xx-eng


def test_mlm_on_all_text_runs_in_stage_one(tmp_path, fixture_rows, make_tiny_encoder):
    cfg = _config().replace(encoder={"mlm": True}, train={"mlm_weight": 1.0}, data={"mlm_text": "all"})
    sampler = _sampler(fixture_rows)
    sampler.mlm_texts = [r["text"] for r in fixture_rows if r["lang"] in NON_PARALLEL]
    drawn = set(sampler.mlm_batch(50))
    assert drawn <= set(sampler.mlm_texts)
    trainer = EMMAXTrainer(cfg, tmp_path, encoder=make_tiny_encoder(seed=0, mlm=True), sampler=sampler,
                           show_progress_bar=False)
    history = trainer.train("init-encoder")
    assert all(r["loss_mlm"] > 0 for r in history)
    with pytest.raises(ValueError, match="mlm_texts"):
        _sampler(fixture_rows).mlm_batch(2)


def test_mlm_weight_without_lm_head_is_a_config_error():
    with pytest.raises(ValueError, match="encoder.mlm=True"):
        tiny().replace(train={"mlm_weight": 1.0})
