"""Fine-tuning a checkpoint on unlabeled footage (`vidreid adapt`): the Trainer, with labels from tracking.

Tracklet self-supervision after TAUDL (Li, Zhu & Gong, ECCV 2018) and UTAL (TPAMI 2019), data/pseudo_labels.py:
- each track of each camera is a pseudo-identity; the classifier (new, one output per track) is trained with a
  softmax *within the track's camera* (TAUDL's per-camera tracklet discrimination: one head over all tracks whose
  softmax only spans the tracks of one camera, so two cameras' tracks of one person are never pushed apart);
- the batch-hard triplet loss (Hermans et al., 2017) takes as positives clips of the same track and as negatives
  only tracks known to be other people (seen in the same frame of the same camera); `CooccurrenceSampler` puts such
  tracks together in a batch so that every batch has them to mine.
Everything else is the engine's: the run folder rules, checkpoints, exact resume, progress, logs. The run starts
from the checkpoint's weights (backbone and embedding; the classifier is re-initialised for the pseudo-classes),
and writes normal checkpoints that `vidreid eval`, `index build` and `search` read. Nothing is labelled, so
nothing is evaluated during the run -- unless the dataset (`vidreid adapt --dataset`) has a labelled query/gallery
split of the same footage beside its train split: then the end of the run evaluates on it.
"""
from __future__ import annotations

import torch

from ..builders import prepare_dataset
from ..errors import DatasetError
from ..store.checkpoint import load_weights, read_checkpoint
from .run_log import log
from .train import Trainer


def no_one_found(where: str) -> str:
    """The message for footage in which the detector found nobody (one wording for the cut and the loader)."""
    return (f"{where}: no tracks to adapt on: the detector found no one in the footage (blank or too dark video, "
            f"people too small: lower --min-height, or try another --detector)")


class AdaptTrainer(Trainer):
    """A Trainer over the train split of a dataset, its labels replaced by pseudo-identities (a "tracklets" dataset
    has nothing else), started from `init_checkpoint`'s weights.
    `prepare_data()`, if given, is called first (under the run folder's lock): it cuts the videos into
    cfg.data.root when needed."""

    def __init__(self, cfg, progress: bool = True, init_checkpoint: str = "", prepare_data=None):
        super().__init__(cfg, progress)
        self.init_checkpoint, self.prepare_data = init_checkpoint, prepare_data

    def setup(self) -> None:
        super().setup()
        self.checkpointer.meta["adapted_from"] = self.init_checkpoint

    def _build_data(self) -> None:
        from ..data.loader import DataPath, build_train_loader
        from ..data.pseudo_labels import CooccurrenceSampler, known_negatives, unlabeled_view
        cfg, d = self.cfg, self.cfg.data
        if self.prepare_data is not None:
            self.prepare_data()
        self.dataset = ds = unlabeled_view(prepare_dataset(cfg, self.progress))    # train labels: from tracking
        log.info(ds.summary())
        labels = torch.tensor([t.pid for t in ds.train])
        class_camera = ds.meta["class_camera"]
        negatives = known_negatives(labels.numpy(), class_camera, ds.meta["frames"])     # (C, C)
        P = d.batch_size // max(d.num_instances, 1)
        per_cam = torch.bincount(torch.as_tensor(class_camera))
        if len(class_camera) == 0:
            raise DatasetError(no_one_found(ds.root))
        if len(class_camera) < max(P, 2) or int(per_cam.max()) < 2:
            raise DatasetError(f"{ds.root}: too few tracks to adapt on: {len(class_camera)} track(s) "
                               f"({', '.join(str(int(n)) for n in per_cam)} per camera); a batch needs "
                               f"P = data.batch_size / data.num_instances = {P} tracks and a camera at least 2 "
                               f"(cut longer or more videos, lower --min-len, or lower data.batch_size)")
        log.info(f"pseudo-labels: {len(class_camera)} tracks in {len(per_cam)} camera(s), "
                 f"{int(negatives.sum()) // 2} pairs known to be different people (seen together)")
        self.class_group = torch.as_tensor(class_camera, device=self.device)
        self.known_negatives = torch.as_tensor(negatives, device=self.device)
        sampler = CooccurrenceSampler(labels.tolist(), negatives, d.num_instances, d.batch_size, cfg.train.seed)
        # the training loader itself (frame cache, photometric jitter, GPU pixel path), batches of co-occurring tracks
        self.loader = build_train_loader(ds, d, seed=cfg.train.seed, batches=sampler,
                                         pixels=DataPath.for_device(self.device).on_device)
        self.iters = cfg.train.iters_per_epoch or sampler.num_batches(0)
        self.total_steps = self.iters * cfg.train.epochs

    def _build_model(self) -> None:
        super()._build_model()
        # the starting weights: everything but the classifier, which gets this run's fresh one (one output per
        # track); a resume then loads its own step's weights over these
        state, _ = read_checkpoint(self.init_checkpoint)
        own = self.core.state_dict()
        state = {k: (own[k] if "classifier" in k else v) for k, v in state.items()}
        state.update({k: v for k, v in own.items() if "classifier" in k})
        load_weights(self.core, state, self.init_checkpoint)

    def compute_loss(self, out, pids):
        from .loss import compute_loss
        return compute_loss(out, pids, self.cfg, self.model, self.class_group, self.known_negatives)

    def evaluates(self) -> bool:
        return bool(self.dataset.query)                     # labelled query/gallery beside the unlabeled train

    def evaluate(self, epoch: int) -> dict:
        if self.dataset.query:                             # a labelled evaluation set beside the unlabeled train
            return super().evaluate(epoch)
        return {}                                          # no labels: nothing to evaluate

    def evaluate_finished_run(self) -> dict:
        if self.dataset.query:
            return super().evaluate_finished_run()
        log.info("adaptation had already finished; its checkpoint is checkpoints/last.safetensors")
        return {}


def adapt_cut_refusal(cut: str, out: str) -> str:
    """Why an existing <out>/cut blocks a new `vidreid adapt`, and the way on: a run that stopped before its first
    checkpoint (e.g. too few tracks) left only its cut, which --resume reuses and --force redoes."""
    from ..store.run_folder import previous_run_files
    if not previous_run_files(out):
        return (f"{cut} holds tracklets cut by an earlier run that stopped before its first checkpoint; pass "
                f"--resume to train on that cut, --force to cut the videos again (e.g. with other --min-len or "
                f"--min-height), or choose another --out")
    return (f"{cut} holds tracklets cut by an earlier run; pass --resume to continue that run, --force to replace "
            f"it, or choose another --out")
