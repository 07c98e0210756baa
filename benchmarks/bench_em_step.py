"""Benchmark: one full EM step of `EMMAXTrainer` vs one InfoNCE step with the same encoder, batch and candidates.

Both steps run on one trainer after its GMM warm-up (``init-gmm``: the queue is full and the rank means are
set, as when EM starts), on one fixed EM batch, in alternation:

* EM step: ``EMMAXTrainer._optimizer_step("em")`` as the training loop calls it (tokenize, momentum update,
  query and key encoders, candidates, GMM, labels, ranking InfoNCE + GMM loss, one backward pass, optimizer
  steps, queue and rank-mean updates), on a training step and on a logging step (diagnostics + history record);
* InfoNCE step: the same trainer's methods with MoCo InfoNCE in place of the EM work (the translation
  partner is the positive, every other candidate a negative, the query's own key left out).

A cProfile of both says where the extra time goes. ``--device cuda`` (optionally ``--model xlmr-base`` and
``--dtype bf16``) records steps/s, tokens/s and model FLOPs utilisation instead (section ``em_step_cuda``).

Usage:
    python benchmarks/bench_em_step.py [--smoke] [--device cpu|cuda] [--dtype fp32|bf16] [--model tiny|xlmr-base]

Taught in: notebooks/05_em_iterations.ipynb
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_arguments, figure, interleaved_times, run_section  # noqa: E402

TARGET = 1.15
SMOKE_TRAIN = {"gmm_steps": 3, "em_pairs_per_batch": 4, "em_mono_per_batch": 8}
#: Dense bf16 peak (TFLOP/s) of GPUs the book's readers use, for model FLOPs utilisation.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "T4": 65.0, "V100": 125.0}
XLMR_BASE = {"hidden_size": 768, "num_layers": 12, "num_heads": 12, "intermediate_size": 3072}


def make_config(smoke: bool, model: str, dtype: str):
    """The tiny profile (``--smoke``: smaller batches and queue); ``xlmr-base``: an XLM-R-base-sized random encoder.

    Taught in: notebooks/10_scaling_up.ipynb
    """
    from emmax_core.config import colab, tiny

    config = tiny()
    if model == "xlmr-base":  # colab's batches and queue, the tiny tokenizer, XLM-R base's shape, random init
        c = colab()
        config = config.replace(encoder=XLMR_BASE, ranks={"queue_size": c.ranks.queue_size},
                                train={"em_pairs_per_batch": c.train.em_pairs_per_batch,
                                       "em_mono_per_batch": c.train.em_mono_per_batch})
    if smoke:
        config = config.replace(train=SMOKE_TRAIN, ranks={"queue_size": 64})
    return config.replace(train={"mixed_precision": {"fp32": "no", "bf16": "bf16"}[dtype]})


def prepare(config, workdir: Path):
    """A trainer after its GMM warm-up, set up for EM, whose every EM draw returns one fixed batch.

    Returns ``(trainer, batch)``; ``batch`` has B sentences, the candidates are ``(B + K, D)``.
    Taught in: notebooks/05_em_iterations.ipynb
    """
    from emmax_core.encoder import SentenceEncoder
    from emmax_core.trainer import EMMAXTrainer

    trainer = EMMAXTrainer(config, workdir, encoder=SentenceEncoder.from_config(config.encoder),
                           show_progress_bar=False)
    # The GMM warm-up fills the queue and sets the rank means; stopping after the first EM step leaves the
    # trainer as its training loop has it in EM (EM optimizers, encoder in train mode, key encoder in eval).
    trainer.train(["init-gmm", "em"], stop_after_steps=config.train.gmm_steps + 1)
    batch = trainer._draw("em")
    trainer._draw = lambda stage: batch
    return trainer, batch


def infonce_step(trainer, batch) -> float:
    """One MoCo InfoNCE step built from the trainer's own methods: same encoder, batch, candidates and queue.

    The positive of a paired row is its translation partner, every other candidate ``(B + K)`` a negative,
    the row's own momentum key left out; monolingual rows have no positive and no loss. Returns the loss.
    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    import torch

    from emmax_core.losses import info_nce
    from emmax_core.parallel import seeded

    t, acc = trainer.config.train, trainer.accelerator
    with acc.accumulate(trainer.encoder, trainer.gmm), seeded(t.seed, batch.index, trainer.device):
        ids, mask = trainer._tokenize(batch.texts)
        trainer.key_encoder.update(trainer._raw_encoder, trainer.config.ranks.momentum)
        q, _ = trainer._encode_with_mlm(ids, mask)
        with torch.no_grad(), acc.autocast():
            k = trainer.key_encoder(ids, mask).float()
        cands, _, _ = trainer.candidates(k, batch)
        sims = q @ cands.T  # (B, Q)
        partner = batch.partner.to(trainer.device)
        has = partner >= 0
        own = torch.zeros_like(sims, dtype=torch.bool)
        own[torch.arange(len(batch.texts)), torch.arange(len(batch.texts))] = True
        loss = info_nce(sims[has], partner[has], t.init_temperature, mask=own[has])
        acc.backward(loss)
        trainer._step_optimizers()
        trainer._step_buffer.add(k, batch)
    trainer._step_buffer.flush(trainer.queue, None)
    return float(loss.detach())


def em_step(trainer, logged: bool) -> dict:
    """One EM optimizer step as the training loop runs it; ``logged``: a logging step (diagnostics + record).

    Taught in: notebooks/05_em_iterations.ipynb
    """
    log_every = trainer.config.train.log_every
    trainer.progress["em"] = log_every - 1 if logged else 1  # the next step is number log_every, or 2
    metrics = trainer._optimizer_step("em")
    if logged:
        return trainer._record("em", log_every, metrics)
    return metrics


def profile_rows(trainer, batch, steps: int) -> dict:
    """cProfile ``steps`` EM and InfoNCE steps: per-step cumulative ms of the trainer's parts, EM vs InfoNCE."""
    stats = {}
    for name, fn in (("em", lambda: em_step(trainer, False)), ("infonce", lambda: infonce_step(trainer, batch))):
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(steps):
            fn()
        prof.disable()
        stats[name] = {_label(k): v[3] * 1e3 / steps for k, v in pstats.Stats(prof).stats.items() if _keep(k)}
    names = set(stats["em"]) | set(stats["infonce"])
    rows = [{"function": n, "em_ms": round(stats["em"].get(n, 0.0), 3),
             "infonce_ms": round(stats["infonce"].get(n, 0.0), 3), "em_only": n not in stats["infonce"]}
            for n in names]
    rows = [r for r in rows if max(r["em_ms"], r["infonce_ms"]) >= 0.05]
    rows.sort(key=lambda r: -(r["em_ms"] - r["infonce_ms"]))
    return {"tool": "cProfile", "steps": steps, "rows": rows[:24]}


_WRAPPERS = {"_optimizer_step", "em_step", "infonce_step", "<lambda>", "_em_step", "_call_impl", "_wrapped_call_impl"}


def _keep(key) -> bool:
    filename, _, func = key
    if func in _WRAPPERS:
        return False
    return "/emmax_core/" in filename or func in ("<method 'run_backward' of 'torch._C._EngineBase' objects>",) or (
        "torch/optim" in filename and func == "step")


def _label(key) -> str:
    filename, _, func = key
    if filename == "~":
        return func.replace("<method '", "").replace("' of 'torch._C._EngineBase' objects>", "")
    parts = Path(filename).with_suffix("").parts
    module = ".".join(parts[parts.index("emmax_core"):]) if "emmax_core" in parts else parts[-1]
    return f"{module}.{func}"


def model_flops_per_step(config, tokens: int, seq: int, batch: int) -> float:
    """Model FLOPs of one EM step: query encoder forward + backward (3x) and key encoder forward (1x).

    A transformer layer's forward costs 2 x (4 H^2 + 2 H I) FLOPs per token (projections, MLP) plus
    2 x 2 x seq x H per token (attention scores and values). Taught in: notebooks/10_scaling_up.ipynb
    """
    e = config.encoder
    per_token = e.num_layers * 2 * (4 * e.hidden_size ** 2 + 2 * e.hidden_size * e.intermediate_size)
    attention = e.num_layers * 4 * seq * e.hidden_size * batch * seq
    return 4 * (per_token * tokens + attention)


def benchmark(smoke: bool, device: str, dtype: str, model: str, repeats: int, threads: int) -> dict:
    """The whole section: interleaved step times, ratios, throughput and the profile.

    Taught in: notebooks/05_em_iterations.ipynb
    """
    import torch

    torch.set_num_threads(threads)
    config = make_config(smoke, model, dtype)
    with tempfile.TemporaryDirectory(prefix="bench-em-") as tmp:
        trainer, batch = prepare(config, Path(tmp))
        sync = torch.cuda.synchronize if device.startswith("cuda") else None
        fns = {"infonce": lambda: infonce_step(trainer, batch), "em": lambda: em_step(trainer, False),
               "em_logged": lambda: em_step(trainer, True)}
        times = interleaved_times(fns, repeats=repeats, warmup=2, sync=sync)
        prof = profile_rows(trainer, batch, 2 if smoke else 10) if device == "cpu" else None
        ids, mask = trainer._tokenize(batch.texts)
        cands, _, _ = trainer.candidates(torch.zeros(len(batch.texts), trainer.queue.keys.shape[1],
                                                     device=trainer.device), batch)
        agree = _same_loss_check(trainer, batch)
    b = len(batch.texts)
    tokens = int(mask.sum())
    t = {k: v["median_s"] for k, v in times.items()}
    log_every = config.train.log_every
    section = {"smoke": smoke, "device": device, "dtype": dtype, "model": model, "threads": threads,
               "config": {"encoder": config.encoder.to_dict(), "train": {k: config.train.to_dict()[k] for k in (
                   "em_pairs_per_batch", "em_mono_per_batch", "log_every", "mixed_precision")},
                   "queue_size": config.ranks.queue_size},
               "batch_size": b, "num_candidates": int(cands.shape[0]), "dim": int(cands.shape[1]),
               "num_ranks": config.ranks.num_ranks, "tokens_per_batch": tokens, "padded_seq": int(ids.shape[1]),
               "repeats": repeats, "times": times, "log_every": log_every,
               "ratio": t["em"] / t["infonce"], "ratio_logged": t["em_logged"] / t["infonce"],
               "amortised_ratio": ((log_every - 1) * t["em"] + t["em_logged"]) / (log_every * t["infonce"]),
               "steps_per_s": 1.0 / t["em"], "tokens_per_s": tokens / t["em"], "check": agree}
    if prof:
        section["profile"] = prof
    flops = model_flops_per_step(config, tokens, int(ids.shape[1]), b)
    section["model_tflops_per_s"] = flops / t["em"] / 1e12
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(0)
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
        section.update(gpu=name, peak_tflops=peak, mfu=(section["model_tflops_per_s"] / peak) if peak else None)
    section["figures"] = [
        figure("EM step / InfoNCE step (training step)", section["ratio"], "x", f"<= {TARGET}x",
               section["ratio"] <= TARGET),
        figure(f"EM step / InfoNCE step averaged over a run (1 logging step in {log_every})",
               section["amortised_ratio"], "x"),
        figure("EM step / InfoNCE step on a logging step (diagnostics + record)", section["ratio_logged"], "x"),
        figure("EM steps per second", section["steps_per_s"], "steps/s"),
    ]
    if device.startswith("cuda"):
        section["figures"] += [figure("EM tokens per second", section["tokens_per_s"], "tokens/s"),
                               figure("Model FLOPs utilisation", section.get("mfu"), "")]
    return section


def _same_loss_check(trainer, batch) -> dict:
    """The InfoNCE step's loss equals `info_nce` on the EM step's own similarities with ctl-style labels.

    Both steps see the same candidates: the InfoNCE loss recomputed from ``ranking_info_nce`` with two ranks
    (partner = 1, others 0, own key -1) must agree to float tolerance; returns the two values.
    """
    import torch

    from emmax_core.losses import info_nce, ranking_info_nce

    t = trainer.config.train
    with torch.no_grad():
        ids, mask = trainer._tokenize(batch.texts)
        q = trainer._raw_encoder(ids, mask).float()
        k = trainer.key_encoder(ids, mask).float()
        cands, _, _ = trainer.candidates(k, batch)
        sims = q @ cands.T
        b = len(batch.texts)
        partner = batch.partner.to(trainer.device)
        has = partner >= 0
        labels = torch.zeros_like(sims, dtype=torch.long)
        labels[torch.arange(b), torch.arange(b)] = -1
        labels[torch.arange(b)[has], partner[has]] = 1
        own = labels == -1
        a = float(info_nce(sims[has], partner[has], t.init_temperature, mask=own[has]))
        r = float(ranking_info_nce(sims[has], labels[has], [t.init_temperature]))
    return {"info_nce": a, "ranking_info_nce_two_ranks": r, "max_abs_diff": abs(a - r)}


def main(argv=None) -> None:
    """Command-line entry point: measure, then merge the section into the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, "smaller batches and queue")
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16"], help="default: fp32 on CPU, bf16 on CUDA")
    parser.add_argument("--model", default=None, choices=["tiny", "xlmr-base"],
                        help="default: tiny on CPU, xlmr-base on CUDA")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if not cuda:  # the trainer takes a GPU whenever it sees one
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    dtype, model = args.dtype or ("bf16" if cuda else "fp32"), args.model or ("xlmr-base" if cuda else "tiny")
    run_section("em_step", args, lambda: benchmark(args.smoke, args.device, dtype, model,
                                                   3 if args.smoke else args.repeats, args.threads))


if __name__ == "__main__":
    main()
