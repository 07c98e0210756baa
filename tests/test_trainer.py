"""The EM trainer end to end on the fixture corpus: artefacts, diagnostics, controls, exact resume."""

import json

import pandas as pd
import pytest
import torch

import emmax_core.trainer as emmax_trainer_module
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


def test_unfilled_queue_slots_change_neither_rank_means_nor_losses(tmp_path, fixture_rows, make_tiny_encoder):
    """Queue slots without a real key are never candidates: overwriting them changes nothing."""
    runs = []
    for name, fill in (("a", None), ("b", 1e3)):
        trainer = _trainer(tmp_path / name, fixture_rows, make_tiny_encoder, queue_size=400)  # never full
        trainer.train("init-encoder")
        assert trainer.queue.filled == 0
        if fill is not None:
            trainer.queue.keys.fill_(fill)
        trainer.train(["init-gmm", "em"], resume=True)
        assert 0 < trainer.queue.filled < 400
        runs.append(trainer)
    a, b = runs
    torch.testing.assert_close(a.rank_means.rank_means, b.rank_means.rank_means, rtol=0, atol=0)
    for ra, rb in zip(a.history, b.history):
        for key in ("loss", "loss_gmm", "loss_rank", "gmm_acc", "label_counts"):
            assert ra.get(key) == rb.get(key), (ra["stage"], ra["step"], key)
    for (name, p), (_, q) in zip(a._raw_encoder.state_dict().items(), b._raw_encoder.state_dict().items()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def test_candidates_are_batch_keys_and_filled_slots_only(tmp_path, fixture_rows, make_tiny_encoder):
    trainer = _trainer(tmp_path, fixture_rows, make_tiny_encoder, queue_size=10)
    batch = trainer.sampler.em_batch(2, 2)
    keys = torch.nn.functional.normalize(torch.randn(len(batch.texts), 32), dim=1)
    assert trainer.candidates(keys, batch)[0].shape[0] == len(batch.texts)  # empty queue: no queue slot
    trainer.queue.enqueue(keys[:3], unit_ids=batch.unit_ids[:3], langs=batch.lang_ids[:3])
    cands, units, langs = trainer.candidates(keys, batch)
    assert cands.shape[0] == units.shape[0] == langs.shape[0] == len(batch.texts) + 3
    assert bool((units >= 0).all()) and bool((langs >= 0).all())


def test_non_finite_loss_stops_naming_stage_step_and_term(tmp_path, fixture_rows, make_tiny_encoder, monkeypatch):
    import emmax_core.trainer as trainer_module
    from emmax_core.checkpoint import find_state, read_checkpoint

    trainer = _trainer(tmp_path, fixture_rows, make_tiny_encoder)
    real = trainer_module.ranking_info_nce

    def poisoned(*args, **kwargs):  # EM step 3 returns NaN
        loss = real(*args, **kwargs)
        return loss * float("nan") if trainer.progress["em"] == 2 else loss

    monkeypatch.setattr(trainer_module, "ranking_info_nce", poisoned)
    with pytest.raises(trainer_module.NonFiniteLossError, match=r"stage 'em', step 3: loss term\(s\) \['loss_rank'\]"):
        trainer.train()
    state = read_checkpoint(find_state(tmp_path))["run"]
    assert state["progress"]["em"] == 2  # the last good checkpoint (checkpoint_every=2) is kept
    monkeypatch.setattr(trainer_module, "ranking_info_nce", real)
    _trainer(tmp_path, fixture_rows, make_tiny_encoder).train(resume=True)  # and it resumes
    assert (tmp_path / "final").is_dir()


def test_later_stage_needs_the_runs_state_or_a_given_encoder(tmp_path, fixture_rows, make_tiny_encoder):
    cfg = _config()
    with pytest.raises(FileNotFoundError, match="--init-from"):
        EMMAXTrainer(cfg, tmp_path / "a", sampler=_sampler(fixture_rows), show_progress_bar=False).train("init-gmm")
    given = EMMAXTrainer(cfg, tmp_path / "b", encoder=make_tiny_encoder(seed=0), sampler=_sampler(fixture_rows),
                         show_progress_bar=False)
    assert given.train("init-gmm")[-1]["stage"] == "init-gmm"
    half = _trainer(tmp_path / "c", fixture_rows, make_tiny_encoder)
    half.train("init-encoder", stop_after_steps=2)
    assert half.progress["init-encoder"] == 2 and not (tmp_path / "c" / "encoder-init").exists()
    with pytest.raises(RuntimeError, match="finish it first with --stage init-encoder --resume"):
        _trainer(tmp_path / "c", fixture_rows, make_tiny_encoder).train("init-gmm")


def test_stop_after_steps_then_resume_equals_one_call(tmp_path, fixture_rows, make_tiny_encoder):
    straight = _trainer(tmp_path / "a", fixture_rows, make_tiny_encoder)
    straight.train()
    sliced = _trainer(tmp_path / "b", fixture_rows, make_tiny_encoder)
    sliced.train(stop_after_steps=9)  # 4 + 3 + 2 of 4 EM steps
    assert sliced.progress == {"init-encoder": 4, "init-gmm": 3, "em": 2}
    resumed = _trainer(tmp_path / "b", fixture_rows, make_tiny_encoder)
    resumed.train(resume=True)
    for (name, p), (_, q) in zip(straight._raw_encoder.state_dict().items(),
                                 resumed._raw_encoder.state_dict().items()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    assert straight.history == resumed.history


def test_sharded_samplers_draw_different_batches_and_the_same_stream(fixture_rows):
    one = _sampler(fixture_rows)
    shards = [_sampler(fixture_rows).shard(i, 2) for i in range(2)]
    stream = [one.em_batch(4, 4) for _ in range(4)]
    drawn = [[s.em_batch(4, 4) for _ in range(2)] for s in shards]
    assert drawn[0][0].texts != drawn[1][0].texts  # two processes: different batches
    assert [b.texts for b in stream] == [drawn[0][0].texts, drawn[1][0].texts, drawn[0][1].texts, drawn[1][1].texts]
    assert [b.index for b in stream] == [0, 1, 2, 3] and [b.index for b in drawn[1]] == [1, 3]
    with pytest.raises(ValueError, match="shard_index"):
        _sampler(fixture_rows).shard(2, 2)


def test_diagnostics_only_on_logged_steps_and_never_change_training(tmp_path, fixture_rows, make_tiny_encoder):
    every = _trainer(tmp_path / "every", fixture_rows, make_tiny_encoder)
    every.train()
    sparse = EMMAXTrainer(_config().replace(train={"log_every": 3}), tmp_path / "sparse",
                          encoder=make_tiny_encoder(seed=0), sampler=_sampler(fixture_rows), show_progress_bar=False)
    calls = []
    original = emmax_trainer_module.em_diagnostics

    def counting(*args, **kwargs):
        calls.append(sparse.progress["em"] + 1)
        return original(*args, **kwargs)

    emmax_trainer_module.em_diagnostics = counting
    try:
        sparse.train()
    finally:
        emmax_trainer_module.em_diagnostics = original
    assert calls == [1, 3, 4]  # the first, every third and the last EM step: the ones written to the history
    for (name, p), (_, q) in zip(every._raw_encoder.state_dict().items(), sparse._raw_encoder.state_dict().items()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(every.rank_means.rank_means, sparse.rank_means.rank_means, rtol=0, atol=0)
    logged = {r["step"]: r for r in every.history if r["stage"] == "em"}
    for rec in (r for r in sparse.history if r["stage"] == "em"):
        assert rec["precision_r3"] == logged[rec["step"]]["precision_r3"], rec["step"]
