"""The three EMMA-X stages on Accelerate: encoder warm-up, GMM warm-up, EM iterations.

1. ``init-encoder``: InfoNCE on parallel pairs (symmetric, in-batch; optional MLM) -> ``DIR/encoder-init/``.
2. ``init-gmm``: both encoders frozen; the GMM learns ranks of interpolated pairs (book:
   :ref:`algorithm-gmm-init`) and the rank means are set from the interpolated similarities, never left at
   zero (book: :ref:`fidelity-rank-means`).
3. ``em``: each step, on batches that mix parallel pairs with unaligned NON-PARALLEL sentences, the GMM labels
   the encoder's candidates (ranking InfoNCE, :ref:`algorithm-ranking-infonce`) and the encoder's rank means
   label the GMM's (:ref:`algorithm-rank-means`); one backward pass on ``L_rank + L_gmm (+ L_mlm)`` ->
   ``DIR/final/``.

Candidates are the in-batch keys and the queue slots that hold real keys; unfilled slots never enter a
statistic, a label or a loss (book: :ref:`fidelity-queue`). The same code runs on a CPU, one GPU (automatic
bf16/fp16) and several processes (``torchrun``, ``accelerate launch``): N processes equal one process
accumulating N micro-batches (:mod:`emmax_core.parallel`). ``DIR/state/`` holds everything needed to resume
(:mod:`emmax_core.checkpoint`: Accelerate's checkpointing, replaced atomically).

Taught in: notebooks/05_em_iterations.ipynb and notebooks/10_scaling_up.ipynb (book: :ref:`algorithm-stages`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .batches import build_sampler
from .checkpoint import REGISTERED, RunState, Schedulers, resume_or_refuse, save_checkpoint, save_encoder
from .checkpoint import STAGE_ORDER as STAGES
from .diagnostics import em_diagnostics
from .encoder import SentenceEncoder
from .fc_classifier import FullyConnectedRankClassifier
from .gmm import GaussianMixtureRankClassifier
from .labelling import encoder_labels, true_translations
from .losses import info_nce, mask_tokens, mlm_loss, rank_cross_entropy, ranking_info_nce
from .momentum import KeyQueue, MomentumEncoder
from .parallel import (
    NonFiniteLossError,
    StepBuffer,
    broadcast_parameters,
    check_finite,
    gather_rows,
    resolve_precision,
    seeded,
)
from .ranks import RankMeans, clamp_ranks, interpolate, interpolation_labels, rank_temperatures

__all__ = ["STAGES", "SAVED_AFTER", "EMMAXTrainer", "NonFiniteLossError", "resolve_precision"]
SAVED_AFTER = {"init-encoder": "encoder-init", "em": "final"}  # save_pretrained folders of the run


class EMMAXTrainer:
    """Runs the EMMA-X stages for one :class:`~emmax_core.config.EMMAXConfig` into ``output_dir``.

    Args:
        config: the run's configuration (presets: ``emmax_core.config.tiny()``, ``colab()``, ``paper()``).
        output_dir: where ``encoder-init/``, ``final/``, ``history.json`` and ``state/`` go.
        encoder: optional starting :class:`SentenceEncoder` (default: built from ``config.encoder``). Giving
            one lets a run start at ``init-gmm`` without the run's own stage-1 state.
        sampler: optional batch sampler (default: :func:`build_sampler`); it is sharded by process here.

    Example:
        >>> trainer = EMMAXTrainer(emmax_core.config.tiny(), "runs/tiny")   # doctest: +SKIP
        >>> history = trainer.train()                                        # doctest: +SKIP
    """

    def __init__(self, config, output_dir, encoder=None, sampler=None, show_progress_bar=None):
        self.config, self.out = config, Path(output_dir)
        r, t = config.ranks, config.train
        set_seed(t.seed)
        unused = bool(config.encoder.mlm and t.mlm_weight <= 0)  # an LM head that no loss uses
        self.accelerator = Accelerator(  # cpu=True without CUDA: torchrun on CPUs then really starts gloo
            cpu=not torch.cuda.is_available(), mixed_precision=resolve_precision(t.mixed_precision),
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused)])
        self.device = self.accelerator.device
        self.sampler = (sampler or build_sampler(config)).shard(self.accelerator.process_index,
                                                                self.accelerator.num_processes)
        self.encoder_given = encoder is not None
        encoder = encoder or SentenceEncoder.from_config(config.encoder)
        dim = encoder.get_sentence_embedding_dimension()
        gmm_cls = GaussianMixtureRankClassifier if r.classifier == "gmm" else FullyConnectedRankClassifier
        self.encoder, self.gmm = self.accelerator.prepare(encoder, gmm_cls(r.num_ranks, dim))
        self.key_encoder = MomentumEncoder(self._raw_encoder).to(self.device)
        self.queue = KeyQueue(r.queue_size, dim).to(self.device)
        self.rank_means = RankMeans(r.num_ranks, ema=r.rank_mean_ema).to(self.device)
        self.temperatures = rank_temperatures(r.num_ranks, r.tau_low, r.tau_high).to(self.device)
        self.run = RunState({"init-encoder": t.init_steps, "init-gmm": t.gmm_steps, "em": t.em_steps}, t.log_every)
        self.progress, self.history = self.run.progress, self.run.history  # restored in place by a checkpoint
        self.stage_optimizers, self.stage_schedulers = self._build_optimizers()
        parts = {"key_encoder": self.key_encoder, "queue": self.queue, "rank_means": self.rank_means,
                 "sampler": self.sampler, "schedulers": Schedulers(self.stage_schedulers), "run": self.run}
        self.accelerator.register_for_checkpointing(*(parts[name] for name in REGISTERED))
        self._step_buffer = StepBuffer(self.accelerator)
        self.show_progress_bar = show_progress_bar

    @property
    def _raw_encoder(self) -> SentenceEncoder:
        return self.accelerator.unwrap_model(self.encoder)

    @property
    def _raw_gmm(self):
        return self.accelerator.unwrap_model(self.gmm)

    def _tokenize(self, texts):
        enc = self._raw_encoder.tokenize(texts)
        return enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)

    def _build_optimizers(self) -> tuple[dict, dict]:
        """Each stage's own optimizers (prepared) and schedules, built once so that Accelerate checkpoints them all."""
        t = self.config.train
        opts, scheds = {stage: {} for stage in STAGES}, {stage: {} for stage in STAGES}
        for stage, steps, warm in (("init-encoder", t.init_steps, t.warmup_steps),
                                   ("em", t.em_steps, t.em_warmup_steps)):
            opt = torch.optim.AdamW(self.encoder.parameters(), lr=t.lr, weight_decay=t.weight_decay)
            scheds[stage]["encoder"] = get_linear_schedule_with_warmup(opt, min(warm, steps), max(steps, 1))
            opts[stage]["encoder"] = self.accelerator.prepare(opt)
        for stage in ("init-gmm", "em"):  # the GMM's own lr: book, fidelity-gmm-lr
            opt = torch.optim.AdamW(self.gmm.parameters(), lr=t.gmm_lr, weight_decay=0.0)
            opts[stage]["gmm"] = self.accelerator.prepare(opt)
        return opts, scheds

    def _step_optimizers(self) -> None:
        for name, opt in self.optimizers.items():
            opt.step()
            opt.zero_grad(set_to_none=True)
            if name in self.schedulers and self.accelerator.sync_gradients:
                self.schedulers[name].step()

    def candidates(self, keys, batch):
        """In-batch keys followed by the queue's real keys: ``(Q, D)`` vectors and ``(Q,)`` unit / language ids.

        ``Q = B + filled``: queue slots that hold no real key yet are never candidates.
        """
        q_keys, q_units, q_langs = self.queue.contents()
        units, langs = batch.unit_ids.to(self.device), batch.lang_ids.to(self.device)
        return torch.cat([keys, q_keys]), torch.cat([units, q_units]), torch.cat([langs, q_langs])

    def _where(self, stage: str) -> dict:
        """Where a step is, for error messages: stage, 1-based step and the run's checkpoint folder."""
        return {"stage": stage, "step": self.progress[stage] + 1, "state": self.out / "state"}

    def _encode_with_mlm(self, ids, mask, mlm_ids=None, mlm_mask=None):
        """Queries ``(B, D)`` and the MLM loss from ONE call of the (possibly DDP-wrapped) encoder.

        MLM masks ``mlm_ids`` (default: ``ids``) and runs the LM head only at the masked tokens.
        """
        t = self.config.train
        if t.mlm_weight <= 0:
            return self.encoder(ids, mask).float(), torch.zeros((), device=self.device)
        mlm_ids, mlm_mask = (ids, mask) if mlm_ids is None else (mlm_ids, mlm_mask)
        masked, labels = mask_tokens(mlm_ids, self._raw_encoder.tokenizer, mask_prob=t.mlm_probability)
        keep = labels != -100
        emb, logits = self.encoder(ids, mask, mlm_input_ids=masked, mlm_attention_mask=mlm_mask, mlm_positions=keep)
        return emb.float(), mlm_loss(logits, labels[keep])

    def _init_encoder_step(self, batch) -> dict:
        """Stage 1: symmetric in-batch InfoNCE between pivot sentences and their translations."""
        ids, mask = self._tokenize(batch.texts)
        p = batch.num_pairs
        mlm_ids = mlm_mask = None
        if self.config.data.mlm_text == "all" and self.config.train.mlm_weight > 0:  # MLM on every language:
            mlm_ids, mlm_mask = self._tokenize(self.sampler.mlm_batch(p))  # one extra sentence per pair
        emb, loss_mlm = self._encode_with_mlm(ids, mask, mlm_ids, mlm_mask)
        sims = emb[:p] @ emb[p:].T  # (P, P): row i's positive is column i
        target = torch.arange(p, device=self.device)
        tau = self.config.train.init_temperature
        loss_ctl = 0.5 * (info_nce(sims, target, tau) + info_nce(sims.T, target, tau))
        check_finite(self.accelerator, self._where("init-encoder"), {"loss": loss_ctl, "loss_mlm": loss_mlm})
        self.accelerator.backward(loss_ctl + self.config.train.mlm_weight * loss_mlm)
        self._step_optimizers()
        self._step_buffer.add(emb[:0], batch)  # nothing to enqueue: only the batch digest
        acc = (sims.argmax(-1) == target).float().mean()
        return {"loss": float(loss_ctl.detach()), "loss_mlm": float(loss_mlm.detach()), "partner_acc": float(acc)}

    @torch.no_grad()
    def _init_gmm_step(self, batch, first: bool) -> dict:
        """Stage 2: the GMM learns the ranks of interpolated pairs; encoders are frozen (book: algorithm-gmm-init)."""
        r = self.config.ranks
        ids, mask = self._tokenize(batch.texts)
        with self.accelerator.autocast():
            q = self.encoder(ids, mask).float()
            k = self.key_encoder(ids, mask).float()
        cands, _, _ = self.candidates(k, batch)
        lam, scale, interp_sims = interpolate(q, cands)
        rows = torch.arange(len(batch.texts), device=self.device)
        labels = clamp_ranks(interpolation_labels(lam, self._raw_gmm.mixing_logits.detach()), rows,
                             batch.partner.to(self.device), r.num_ranks)
        if first:  # scale the GMM to the data it will see; every process starts from process 0's
            diffs = scale[:, :64, None] * (q[:, None, :] - cands[None, :64, :])
            self._raw_gmm.init_from_data(diffs.reshape(-1, q.shape[-1]))
            broadcast_parameters(self.accelerator, self._raw_gmm)
        with torch.enable_grad():
            log_post = self.gmm(q, cands, scale)
            loss = rank_cross_entropy(log_post, labels, r.rank_confidence)
            check_finite(self.accelerator, self._where("init-gmm"), {"loss_gmm": loss})
            self.accelerator.backward(loss)
        self._step_optimizers()
        self._step_buffer.add(k, batch, self.rank_means.statistics(interp_sims, labels))
        acc = (log_post.argmax(-1) == labels).float().mean()
        return {"loss_gmm": float(loss.detach()), "gmm_acc": float(acc), "label_counts":
                torch.bincount(labels.flatten(), minlength=r.num_ranks).tolist()}

    def _em_step(self, batch, first: bool) -> dict:
        """Stage 3: one EM iteration (both supervision directions, one backward pass; book: algorithm-em)."""
        r = self.config.ranks
        ids, mask = self._tokenize(batch.texts)
        if first:  # the key encoder moves once per optimizer step, as the queue and the rank means do
            self.key_encoder.update(self._raw_encoder, r.momentum)
        q, loss_mlm = self._encode_with_mlm(ids, mask)
        with torch.no_grad(), self.accelerator.autocast():
            k = self.key_encoder(ids, mask).float()
        cands, cand_units, cand_langs = self.candidates(k, batch)
        sims = q @ cands.T  # (B, Q)
        rows = torch.arange(len(batch.texts), device=self.device)
        partner = batch.partner.to(self.device)
        log_post = self.gmm(q.detach(), cands)  # (B, Q, N); the GMM never sends gradient to the encoder
        gmm_pred = log_post.detach().argmax(-1)
        rm_labels = self.rank_means.assign(sims.detach())
        langs = batch.lang_ids.to(self.device)
        truth = true_translations(batch.unit_ids.to(self.device), langs, cand_units, cand_langs)
        enc_labels = encoder_labels(r.labeller, log_post.detach(), partner, truth, r.num_ranks,
                                    r.confidence_threshold, sims.detach(), langs, cand_langs, rm_labels,
                                    progress=self.progress["em"] / max(self.config.train.em_steps, 1),
                                    precision=r.oracle_precision, recall=r.oracle_recall)
        loss_rank = ranking_info_nce(sims, enc_labels, self.temperatures, r.exclude_empty_rows)
        loss_gmm = rank_cross_entropy(log_post, clamp_ranks(rm_labels, rows, partner, r.num_ranks),
                                      r.rank_confidence)
        losses = {"loss_rank": loss_rank, "loss_gmm": loss_gmm, "loss_mlm": loss_mlm}
        check_finite(self.accelerator, self._where("em"), losses)
        self.accelerator.backward(loss_rank + loss_gmm + self.config.train.mlm_weight * loss_mlm)
        self._step_optimizers()
        self._step_buffer.add(k, batch, self.rank_means.statistics(sims.detach(), gmm_pred))  # unclamped
        out = {name: float(value.detach()) for name, value in losses.items()}
        if self.run.logged("em"):  # diagnostics only where they are recorded: they never feed training
            out.update(em_diagnostics(sims.detach(), gmm_pred, rm_labels, enc_labels, truth, partner, cand_langs,
                                      langs, r.num_ranks))
        return out

    def _draw(self, stage: str):
        t = self.config.train
        return (self.sampler.parallel_batch(t.init_pairs_per_batch) if stage == "init-encoder"
                else self.sampler.em_batch(t.em_pairs_per_batch, t.em_mono_per_batch))

    def _run_stage(self, stage: str, budget: list[int | None]) -> bool:
        """Run ``stage`` to its end (True), or until ``budget[0]`` optimizer steps are spent (False)."""
        t = self.config.train
        total = self.run.stage_steps[stage]
        if self.progress[stage] >= total:
            return True
        if stage == "em" and not self.rank_means.is_ordered():
            raise RuntimeError(f"Rank means {self.rank_means.rank_means.tolist()} are not strictly increasing "
                               "after the GMM warm-up; EM would collapse. Run more train.gmm_steps.")
        self.optimizers, self.schedulers = self.stage_optimizers[stage], self.stage_schedulers[stage]
        if stage == "init-gmm" and self.progress[stage] == 0:  # MoCo: keys start from the warmed-up encoder
            self.key_encoder.update(self._raw_encoder, 0.0)
        self.encoder.train(stage != "init-gmm")
        self.key_encoder.eval()  # keys without dropout noise
        disable = not self.accelerator.is_local_main_process or self.show_progress_bar is False
        bar = tqdm(total=total, initial=self.progress[stage], desc=stage, disable=disable)
        while self.progress[stage] < total:
            if budget[0] is not None and budget[0] <= 0:
                bar.close()
                self.save_state()
                return False
            logged = self.run.logged(stage)
            metrics = self._optimizer_step(stage)
            step = self.progress[stage] = self.progress[stage] + 1
            budget[0] = None if budget[0] is None else budget[0] - 1
            if logged:
                self.history.append(self._record(stage, step, metrics))
            if t.checkpoint_every and step % t.checkpoint_every == 0 and step < total:
                self.save_state()
            bar.update(1)
        bar.close()
        if stage in SAVED_AFTER:  # the stage's encoder, written once, when the stage ends
            save_encoder(self.accelerator, self.out / SAVED_AFTER[stage], self._raw_encoder,
                         {"gmm": self._raw_gmm.state_dict(), "rank_means": self.rank_means.state_dict()})
        self.save_state()
        return True

    def _optimizer_step(self, stage: str) -> dict:
        """One optimizer step: ``gradient_accumulation_steps`` micro-batches, then the step-level updates."""
        metrics = {}
        for micro in range(self.config.train.gradient_accumulation_steps):
            with self.accelerator.accumulate(self.encoder, self.gmm):
                batch = self._draw(stage)
                with seeded(self.config.train.seed, batch.index, self.device):
                    if stage == "init-encoder":
                        metrics = self._init_encoder_step(batch)
                    elif stage == "init-gmm":
                        metrics = self._init_gmm_step(batch, first=micro == 0 and self.progress[stage] == 0)
                    else:
                        metrics = self._em_step(batch, first=micro == 0)
        metrics["batch_digests"] = self._step_buffer.flush(
            self.queue if stage != "init-encoder" else None, self.rank_means)
        return metrics

    def _record(self, stage: str, step: int, metrics: dict) -> dict:
        digests = torch.tensor(metrics.pop("batch_digests"), device=self.device)
        rec = {"stage": stage, "step": step, **metrics,
               "batch_digests": gather_rows(self.accelerator, digests).tolist()}  # every process's batches
        if stage != "init-encoder":
            rec["rank_means"] = self.rank_means.rank_means.tolist()
            rec["mixing_weights"] = torch.softmax(self._raw_gmm.mixing_logits.detach(), 0).tolist()
        if "encoder" in self.schedulers:
            rec["lr"] = self.schedulers["encoder"].get_last_lr()[0]
        return rec

    def save_state(self) -> None:
        """Checkpoint the run into ``output_dir/state``, atomically (:func:`~emmax_core.checkpoint.save_checkpoint`)."""
        world, t = self.accelerator.num_processes, self.config.train
        history = {"config": self.config.to_dict(), "world_size": world,
                   "gradient_accumulation_steps": t.gradient_accumulation_steps, "records": self.history}
        save_checkpoint(self.accelerator, self.out, {"progress": self.progress, "world_size": world}, history)

    def train(self, stages: str | list[str] = "all", resume: bool = False,
              stop_after_steps: int | None = None) -> list[dict]:
        """Run ``stages`` (``"all"`` or any of ``init-encoder``, ``init-gmm``, ``em``) and save the artefacts.

        A run that starts at a later stage continues from the run's own ``state/`` (the earlier stages must
        have finished there) or, for ``init-gmm``, from an encoder given to the constructor.

        Args:
            stages: which stages to run, in order.
            resume: continue from ``output_dir/state`` when it exists.
            stop_after_steps: stop (with a checkpoint) after this many optimizer steps in this call; the run
                continues with ``resume=True`` (time-sliced training, e.g. on a preemptible machine).

        Returns:
            The metric history (also written to ``output_dir/history.json``).
        """
        todo = list(STAGES) if stages == "all" else [stages] if isinstance(stages, str) else list(stages)
        bad = [s for s in todo if s not in STAGES]
        if bad:
            raise ValueError(f"stages={bad} unknown; use 'all' or any of {STAGES}.")
        if stop_after_steps is not None and stop_after_steps < 1:
            raise ValueError(f"stop_after_steps={stop_after_steps}; use a positive number of steps or None.")
        self.out.mkdir(parents=True, exist_ok=True)
        resume_or_refuse(self.accelerator, self.out, self.run, todo[0], resume, self.encoder_given)
        budget = [stop_after_steps]
        for stage in todo:
            if not self._run_stage(stage, budget):
                break
        self.accelerator.wait_for_everyone()
        return self.history
