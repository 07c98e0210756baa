"""Benchmark: `SentenceEncoder.encode` vs `sentence_transformers.SentenceTransformer.encode` on the same weights.

A tiny-profile encoder (random init) is saved with ``save_pretrained`` and the folder is loaded by
sentence-transformers as Transformer + Pooling(mean) + Normalize, the same pooling and normalisation. Both
encode the same sentences of ``emmax_core.load_corpus()`` (a fixed random sample over every language) with the
same batch size, in alternation; the outputs must agree to float tolerance. Needs the ``bench`` extra
(``pip install -e ".[bench]"``, which `make bench` installs when missing).

Usage:
    python benchmarks/bench_encode.py [--smoke] [--device cpu|cuda] [--sentences 2048] [--batch-size 32]

Taught in: notebooks/02_encoders_and_init.ipynb
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_arguments, figure, interleaved_times, run_section  # noqa: E402

TARGET = 1.0


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences drawn without replacement (fixed seed) from every language of the shipped corpus."""
    import numpy as np

    from emmax_core import load_corpus

    texts = load_corpus()["text"]
    pick = np.random.default_rng(seed).choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[int(i)] for i in pick]


def load_both(folder: Path, device: str):
    """Our encoder and a sentence-transformers model on the same saved weights, both in eval mode.

    Returns ``(ours, st, st_modules)``; both map n sentences to ``(n, H)`` unit vectors.
    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6.1; `sentence_transformers.models` before
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules

    from emmax_core.encoder import SentenceEncoder

    ours = SentenceEncoder.from_pretrained(folder).to(device).eval()
    transformer = modules.Transformer(str(folder), max_seq_length=ours.max_length)
    pooling = modules.Pooling(ours.get_sentence_embedding_dimension(), pooling_mode="mean")
    st = SentenceTransformer(modules=[transformer, pooling, modules.Normalize()], device=device).eval()
    return ours, st, "Transformer + Pooling(mean) + Normalize"


def breakdown(ours, texts: list[str], batch_size: int) -> dict:
    """One pass of ``encode``'s parts, timed apart (seconds), and the tokens its batches hold.

    ``padded_tokens`` counts the (batch x longest) grid that the forward passes compute over, for ``encode``'s
    token-length order and for the character-length order that sentence-transformers uses.
    """
    import torch

    start = time.perf_counter()
    ids, order = ours._ids_by_length(texts)
    tokenize = time.perf_counter() - start
    start = time.perf_counter()
    batches = [ours._pad([ids[i] for i in order[s:s + batch_size]]) for s in range(0, len(texts), batch_size)]
    pad = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        for input_ids, mask in batches:
            ours(input_ids, mask)
    forward = time.perf_counter() - start
    start = time.perf_counter()
    ours.encode(texts, batch_size=batch_size, show_progress_bar=False)
    total = time.perf_counter() - start
    by_chars = sorted(range(len(texts)), key=lambda i: -len(texts[i]))

    def grid(rows):
        return sum(len(rows[s:s + batch_size]) * max(len(ids[i]) for i in rows[s:s + batch_size])
                   for s in range(0, len(rows), batch_size))

    return {"tokenize_s": tokenize, "pad_s": pad, "forward_s": forward,
            "rest_s": max(total - tokenize - pad - forward, 0.0), "tokens": sum(len(x) for x in ids),
            "padded_tokens": grid(list(order)), "padded_tokens_by_characters": grid(by_chars)}


def benchmark(smoke: bool, device: str, num_sentences: int, batch_size: int, repeats: int, threads: int) -> dict:
    """The whole ``encode`` section: interleaved times, sentences/s, agreement, the breakdown.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    import numpy as np
    import torch

    from emmax_core.config import tiny
    from emmax_core.encoder import SentenceEncoder

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    texts = sentences(num_sentences)
    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        folder = Path(tmp) / "encoder"
        SentenceEncoder.from_config(tiny().encoder).save_pretrained(folder)
        ours, st, modules = load_both(folder, device)
        sync = torch.cuda.synchronize if device.startswith("cuda") else None
        fns = {"emmax": lambda: ours.encode(texts, batch_size=batch_size, show_progress_bar=False),
               "st": lambda: st.encode(texts, batch_size=batch_size, show_progress_bar=False)}
        times = interleaved_times(fns, repeats=repeats, sync=sync)
        a, b = fns["emmax"](), fns["st"]()
        parts = breakdown(ours, texts, batch_size)
    t = {k: v["median_s"] for k, v in times.items()}
    ratio = t["st"] / t["emmax"]  # ours / theirs in sentences per second
    section = {"smoke": smoke, "device": device, "threads": threads, "num_sentences": len(texts),
               "batch_size": batch_size, "repeats": repeats, "st_modules": modules, "times": times,
               "sentences_per_s": {k: len(texts) / v for k, v in t.items()}, "speed_ratio": ratio,
               "max_abs_diff": float(np.abs(np.asarray(a) - np.asarray(b)).max()), "shape": list(np.shape(a)),
               "breakdown": parts}
    section["figures"] = [
        figure("encode sentences/s, ours / sentence-transformers", ratio, "x", f">= {TARGET:g}x", ratio >= TARGET),
        figure("encode max abs difference, ours vs sentence-transformers", section["max_abs_diff"], ""),
    ]
    return section


def main(argv=None) -> None:
    """Command-line entry point: measure, then merge the section into the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, "64 sentences")
    parser.add_argument("--sentences", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    def measure() -> dict:
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            return {"status": "not run: sentence-transformers is not installed (pip install -e \".[bench]\")",
                    "figures": []}
        return benchmark(args.smoke, args.device, 64 if args.smoke else args.sentences, args.batch_size,
                         2 if args.smoke else args.repeats, args.threads)

    run_section("encode", args, measure)


if __name__ == "__main__":
    main()
