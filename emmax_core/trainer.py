"""The three EMMA-X stages on Accelerate: encoder warm-up, GMM warm-up, EM iterations.

1. ``init-encoder``: InfoNCE on parallel pairs (symmetric, in-batch; optional MLM) -> ``DIR/encoder-init/``.
2. ``init-gmm``: both encoders frozen; the GMM learns ranks of interpolated pairs (spec 3.8) and the rank means
   are set from the interpolated similarities, never left at zero (measurements.md, collapse modes).
3. ``em``: each step, on batches that mix parallel pairs with unaligned NON-PARALLEL sentences, the GMM labels
   the encoder's candidates (ranking InfoNCE, spec 3.6) and the encoder's rank means label the GMM's (spec 3.4);
   one backward pass on ``L_rank + L_gmm (+ L_mlm)`` -> ``DIR/final/``.

The same code runs on a CPU, one GPU (automatic bf16/fp16) and several GPUs under ``accelerate launch``:
keys and rank-mean statistics are gathered across processes. ``DIR/state/`` holds everything needed to resume
(weights, optimizers, schedule, queue, rank means, GMM, sampler and torch RNG); it is replaced atomically.

Taught in: notebooks/05_em_iterations.ipynb and notebooks/10_scaling_up.ipynb (spec section 4).
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .batches import build_sampler
from .checkpoint import CheckpointMixin
from .diagnostics import em_diagnostics
from .encoder import SentenceEncoder
from .gmm import FullyConnectedRankClassifier, GaussianMixtureRankClassifier
from .labelling import encoder_labels, true_translations
from .losses import info_nce, mask_tokens, mlm_loss, rank_cross_entropy, ranking_info_nce
from .momentum import KeyQueue, MomentumEncoder
from .ranks import RankMeans, clamp_ranks, interpolate, interpolation_labels, rank_temperatures

STAGES = ("init-encoder", "init-gmm", "em")


def resolve_precision(requested: str = "auto") -> str:
    """Pick Accelerate's ``mixed_precision``: bf16 where supported, fp16 on other CUDA GPUs, else ``"no"``.

    Raises:
        ValueError: ``fp16``/``bf16`` requested without CUDA (Accelerate would fail later, less clearly).
    """
    cuda = torch.cuda.is_available()
    if requested == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    if requested in ("fp16", "bf16") and not cuda:
        raise ValueError(f"train.mixed_precision={requested!r} needs a CUDA GPU; use 'auto' or 'no' on CPU.")
    if requested not in ("no", "fp16", "bf16"):
        raise ValueError(f"train.mixed_precision={requested!r}; use 'auto', 'no', 'bf16' or 'fp16'.")
    return requested


class EMMAXTrainer(CheckpointMixin):
    """Runs the EMMA-X stages for one :class:`~emmax_core.config.EMMAXConfig` into ``output_dir``.

    Args:
        config: the run's configuration (presets: ``emmax_core.config.tiny()``, ``colab()``, ``paper()``).
        output_dir: where ``encoder-init/``, ``final/``, ``history.json`` and ``state/`` go.
        encoder: optional starting :class:`SentenceEncoder` (default: built from ``config.encoder``).
        sampler: optional batch sampler (default: :func:`build_sampler`).

    Example:
        >>> trainer = EMMAXTrainer(emmax_core.config.tiny(), "runs/tiny")   # doctest: +SKIP
        >>> history = trainer.train()                                        # doctest: +SKIP
    """

    def __init__(self, config, output_dir, encoder=None, sampler=None, show_progress_bar=None):
        self.config, self.out = config, Path(output_dir)
        r, t = config.ranks, config.train
        set_seed(t.seed)
        self.accelerator = Accelerator(
            mixed_precision=resolve_precision(t.mixed_precision),
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        self.device = self.accelerator.device
        self.sampler = sampler or build_sampler(config)
        encoder = encoder or SentenceEncoder.from_config(config.encoder)
        dim = encoder.get_sentence_embedding_dimension()
        gmm_cls = GaussianMixtureRankClassifier if r.classifier == "gmm" else FullyConnectedRankClassifier
        self.encoder, self.gmm = self.accelerator.prepare(encoder, gmm_cls(r.num_ranks, dim))
        self.key_encoder = MomentumEncoder(self._raw_encoder).to(self.device)
        self.queue = KeyQueue(r.queue_size, dim).to(self.device)
        self.rank_means = RankMeans(r.num_ranks, ema=r.rank_mean_ema).to(self.device)
        self.temperatures = rank_temperatures(r.num_ranks, r.tau_low, r.tau_high).to(self.device)
        self.progress = {s: 0 for s in STAGES}
        self.history: list[dict] = []
        self.optimizers: dict = {}
        self.schedulers: dict = {}
        self._opt_stage: str | None = None
        self.show_progress_bar = show_progress_bar

    # ---------------------------------------------------------------- helpers
    @property
    def _raw_encoder(self) -> SentenceEncoder:
        return self.accelerator.unwrap_model(self.encoder)

    @property
    def _raw_gmm(self):
        return self.accelerator.unwrap_model(self.gmm)

    def _tokenize(self, texts):
        enc = self._raw_encoder.tokenize(texts)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _make_optimizers(self, stage: str) -> None:
        t = self.config.train
        opts, scheds = {}, {}
        if stage in ("init-encoder", "em"):
            steps = t.init_steps if stage == "init-encoder" else t.em_steps
            warm = t.warmup_steps if stage == "init-encoder" else t.em_warmup_steps
            opt = torch.optim.AdamW(self.encoder.parameters(), lr=t.lr, weight_decay=t.weight_decay)
            scheds["encoder"] = get_linear_schedule_with_warmup(opt, min(warm, steps), max(steps, 1))
            opts["encoder"] = opt
        if stage in ("init-gmm", "em"):  # the GMM's own lr: a documented deviation (spec section 10)
            opts["gmm"] = torch.optim.AdamW(self.gmm.parameters(), lr=t.gmm_lr, weight_decay=0.0)
        self.optimizers = {k: self.accelerator.prepare(v) for k, v in opts.items()}
        self.schedulers = scheds

    def _step_optimizers(self) -> None:
        for name, opt in self.optimizers.items():
            opt.step()
            opt.zero_grad(set_to_none=True)
            if name in self.schedulers and self.accelerator.sync_gradients:
                self.schedulers[name].step()

    def _candidates(self, keys, batch):
        """In-batch keys followed by the queue: ``(Q, D)`` vectors and their ``(Q,)`` unit / language ids."""
        units, langs = batch.unit_ids.to(self.device), batch.lang_ids.to(self.device)
        cands = torch.cat([keys, self.queue.keys])
        return cands, torch.cat([units, self.queue.unit_ids]), torch.cat([langs, self.queue.langs])

    def _enqueue(self, keys, batch) -> None:
        g = self.accelerator.gather
        self.queue.enqueue(g(keys.contiguous()), unit_ids=g(batch.unit_ids.to(self.device)),
                           langs=g(batch.lang_ids.to(self.device)))

    def _mlm(self, input_ids, attention_mask):
        if self.config.train.mlm_weight <= 0:
            return torch.zeros((), device=self.device)
        raw = self._raw_encoder
        masked, labels = mask_tokens(input_ids, raw.tokenizer, mask_prob=self.config.train.mlm_probability)
        keep = labels != -100  # the LM head only at masked tokens
        return mlm_loss(raw.mlm_logits(masked, attention_mask, positions=keep), labels[keep])

    # ---------------------------------------------------------------- stage steps
    def _init_encoder_step(self, batch) -> dict:
        """Stage 1: symmetric in-batch InfoNCE between pivot sentences and their translations."""
        ids, mask = self._tokenize(batch.texts)
        emb = self.encoder(ids, mask).float()
        p = batch.num_pairs
        sims = emb[:p] @ emb[p:].T  # (P, P): row i's positive is column i
        target = torch.arange(p, device=self.device)
        tau = self.config.train.init_temperature
        loss_ctl = 0.5 * (info_nce(sims, target, tau) + info_nce(sims.T, target, tau))
        if self.config.data.mlm_text == "all" and self.config.train.mlm_weight > 0:  # MLM on every language:
            ids, mask = self._tokenize(self.sampler.mlm_batch(p))  # one extra sentence per pair
        loss_mlm = self._mlm(ids, mask)
        self.accelerator.backward(loss_ctl + self.config.train.mlm_weight * loss_mlm)
        self._step_optimizers()
        acc = (sims.argmax(-1) == target).float().mean()
        return {"loss": float(loss_ctl.detach()), "loss_mlm": float(loss_mlm.detach()), "partner_acc": float(acc)}

    @torch.no_grad()
    def _init_gmm_step(self, batch) -> dict:
        """Stage 2: the GMM learns the ranks of interpolated pairs; encoders are frozen (spec 3.8)."""
        r = self.config.ranks
        ids, mask = self._tokenize(batch.texts)
        with self.accelerator.autocast():
            q = self.encoder(ids, mask).float()
            k = self.key_encoder(ids, mask).float()
        cands, _, _ = self._candidates(k, batch)
        lam, scale, interp_sims = interpolate(q, cands)
        rows = torch.arange(len(batch.texts), device=self.device)
        labels = clamp_ranks(interpolation_labels(lam, self._raw_gmm.mixing_logits.detach()), rows,
                             batch.partner.to(self.device), r.num_ranks)
        if self.progress["init-gmm"] == 0:  # scale the GMM to the data it will see (spec section 10)
            diffs = scale[:, :64, None] * (q[:, None, :] - cands[None, :64, :])
            self._raw_gmm.init_from_data(diffs.reshape(-1, q.shape[-1]))
        with torch.enable_grad():
            log_post = self.gmm(q, cands, scale)
            loss = rank_cross_entropy(log_post, labels, r.rank_confidence)
            self.accelerator.backward(loss)
        self._step_optimizers()
        g = self.accelerator.gather
        if not self.rank_means.initialized:
            self.rank_means.init_from(g(interp_sims), g(labels))
        else:
            self.rank_means.update(g(interp_sims), g(labels))
        self._enqueue(k, batch)
        acc = (log_post.argmax(-1) == labels).float().mean()
        return {"loss_gmm": float(loss.detach()), "gmm_acc": float(acc), "label_counts":
                torch.bincount(labels.flatten(), minlength=r.num_ranks).tolist()}

    def _em_step(self, batch) -> dict:
        """Stage 3: one EM iteration (both supervision directions, one backward pass; spec 3.7)."""
        r = self.config.ranks
        ids, mask = self._tokenize(batch.texts)
        q = self.encoder(ids, mask).float()
        with torch.no_grad():
            self.key_encoder.update(self._raw_encoder, r.momentum)
            with self.accelerator.autocast():
                k = self.key_encoder(ids, mask).float()
        cands, cand_units, cand_langs = self._candidates(k, batch)
        sims = q @ cands.T  # (B, Q)
        rows = torch.arange(len(batch.texts), device=self.device)
        partner = batch.partner.to(self.device)
        log_post = self.gmm(q.detach(), cands)  # (B, Q, N); the GMM never sends gradient to the encoder
        gmm_pred = log_post.detach().argmax(-1)
        rm_labels = self.rank_means.assign(sims.detach())
        truth = true_translations(batch.unit_ids.to(self.device), batch.lang_ids.to(self.device),
                                  cand_units, cand_langs)
        enc_labels = encoder_labels(r.labeller, log_post.detach(), partner, truth, r.num_ranks,
                                    r.confidence_threshold, sims.detach(), batch.lang_ids.to(self.device),
                                    cand_langs, rm_labels, progress=self.progress["em"] / max(self.config.train.em_steps, 1))
        loss_rank = ranking_info_nce(sims, enc_labels, self.temperatures, r.exclude_empty_rows)
        loss_gmm = rank_cross_entropy(log_post, clamp_ranks(rm_labels, rows, partner, r.num_ranks),
                                      r.rank_confidence)
        loss_mlm = self._mlm(ids, mask)
        self.accelerator.backward(loss_rank + loss_gmm + self.config.train.mlm_weight * loss_mlm)
        self._step_optimizers()
        g = self.accelerator.gather
        self.rank_means.update(g(sims.detach()), g(gmm_pred))  # grouped by the unclamped GMM prediction
        self._enqueue(k, batch)
        out = {"loss_rank": float(loss_rank.detach()), "loss_gmm": float(loss_gmm.detach()), "loss_mlm": float(loss_mlm.detach())}
        out.update(em_diagnostics(sims.detach(), gmm_pred, rm_labels, enc_labels, truth, partner, cand_langs,
                                  batch.lang_ids.to(self.device), r.num_ranks))
        return out

    # ---------------------------------------------------------------- stages
    def _run_stage(self, stage: str) -> None:
        t = self.config.train
        total = {"init-encoder": t.init_steps, "init-gmm": t.gmm_steps, "em": t.em_steps}[stage]
        if self.progress[stage] >= total:
            return
        if stage == "em" and not self.rank_means.is_ordered():
            raise RuntimeError(f"Rank means {self.rank_means.rank_means.tolist()} are not strictly increasing "
                               "after the GMM warm-up; EM would collapse. Run more train.gmm_steps.")
        if self._opt_stage != stage:
            self._make_optimizers(stage)
            self._opt_stage = stage
        if stage == "init-gmm" and self.progress[stage] == 0:  # MoCo: keys start from the warmed-up encoder
            self.key_encoder.update(self._raw_encoder, 0.0)
        self.encoder.train(stage != "init-gmm")
        self.key_encoder.eval()  # keys without dropout noise
        step_fn = {"init-encoder": self._init_encoder_step, "init-gmm": self._init_gmm_step,
                   "em": self._em_step}[stage]
        disable = not self.accelerator.is_local_main_process or self.show_progress_bar is False
        bar = tqdm(total=total, initial=self.progress[stage], desc=stage, disable=disable)
        while self.progress[stage] < total:
            metrics = {}
            for _ in range(t.gradient_accumulation_steps):
                with self.accelerator.accumulate(self.encoder, self.gmm):
                    batch = (self.sampler.parallel_batch(t.init_pairs_per_batch) if stage == "init-encoder"
                             else self.sampler.em_batch(t.em_pairs_per_batch, t.em_mono_per_batch))
                    metrics = step_fn(batch)
            self.progress[stage] += 1
            step = self.progress[stage]
            if step % t.log_every == 0 or step == total or step == 1:
                self.history.append(self._record(stage, step, metrics))
            if t.checkpoint_every and step % t.checkpoint_every == 0 and step < total:
                self.save_state()
            bar.update(1)
        bar.close()
        self.save_state()

    def _record(self, stage: str, step: int, metrics: dict) -> dict:
        rec = {"stage": stage, "step": step, **metrics}
        if stage != "init-encoder":
            rec["rank_means"] = self.rank_means.rank_means.tolist()
            rec["mixing_weights"] = torch.softmax(self._raw_gmm.mixing_logits.detach(), 0).tolist()
        if "encoder" in self.schedulers:
            rec["lr"] = self.schedulers["encoder"].get_last_lr()[0]
        return rec

    def train(self, stages: str | list[str] = "all", resume: bool = False) -> list[dict]:
        """Run ``stages`` (``"all"`` or any of ``init-encoder``, ``init-gmm``, ``em``) and save the artefacts.

        Args:
            stages: which stages to run, in order.
            resume: continue from ``output_dir/state`` when it exists.

        Returns:
            The metric history (also written to ``output_dir/history.json``).
        """
        todo = list(STAGES) if stages == "all" else [stages] if isinstance(stages, str) else list(stages)
        bad = [s for s in todo if s not in STAGES]
        if bad:
            raise ValueError(f"stages={bad} unknown; use 'all' or any of {STAGES}.")
        self.out.mkdir(parents=True, exist_ok=True)
        if (resume or todo[0] == "em") and (self.out / "state").exists():
            self.load_state()
        elif todo[0] == "em":
            raise FileNotFoundError(f"--stage em needs {self.out / 'state'} from the earlier stages; "
                                    "run them first (--stage all), or start at init-gmm from a given encoder.")
        for stage in todo:
            self._run_stage(stage)
            if stage == "init-encoder":
                self._save_encoder("encoder-init")
            if stage == "em":
                self._save_encoder("final")
        self.accelerator.wait_for_everyone()
        return self.history
