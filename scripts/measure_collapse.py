"""Chapter 08's collapse measure for the code on the path: geometry of the tiny warm-up and EM models (seed 0).

Trains (or loads from the model cache) the same two runs chapter 08 uses and writes the average cosine and
the isotropy of their embeddings of the held-out multi-way units, plus the EM run's final rank means, to OUT.
To compare two versions of the trainer, run it once per checkout with a separate cache, e.g.

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old EMMAX_CACHE=/tmp/old-cache python scripts/measure_collapse.py before.json
    python scripts/measure_collapse.py after.json

`results/collapse_before_after.json` holds the two outputs around the rank-mean fix.
"""

import json
import sys

from emmax_core.config import tiny
from emmax_core.corpus import multiway_units
from emmax_core.encoder import SentenceEncoder
from emmax_core.evaluation.geometry import geometry_report
from emmax_core.run_cache import train_or_load

LANGS = ["eng", "spa", "fra", "por_BR", "jpn", "cmn_hans", "rus", "tur", "pes_1", "hin", "pol",
         "cat", "ell_monotonic", "kat", "slk", "cmn_hant", "glg", "est", "ind", "kor", "als"]  # chapter 08's


def main(out: str) -> dict:
    data = multiway_units(LANGS, sources=["udhr", "sphinx"])
    config = tiny()
    warmup = train_or_load(config, "warmup", stages="init-encoder", show_progress_bar=False)
    em = train_or_load(config, "em", stages=["init-gmm", "em"], init_from=warmup, show_progress_bar=False)
    result = {}
    for name, path in (("warm-up", warmup / "encoder-init"), ("EM", em / "final")):
        emb = SentenceEncoder.from_pretrained(path).encode(list(data["text"]), show_progress_bar=False)
        report = geometry_report(emb, data["lang"], data["unit_id"])
        result[name] = {k: float(report[k]) for k in ("average_cosine", "isotropy")}
    result["EM final rank means"] = json.loads((em / "history.json").read_text())["records"][-1]["rank_means"]
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
