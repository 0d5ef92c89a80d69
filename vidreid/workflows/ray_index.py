"""`vidreid index build --engine ray`: the gallery embedded by model actors (each holds one FeatureExtractor for its
lifetime and embeds shard after shard of SHARD tracklets), the features saved as shards, then the index filled from
the shards chunk by chunk by the single-process path's own code (Searcher.index, `embed_chunks`), so the index holds
the same tracklets, in the same order, with the same features (up to float rounding of other batch sizes).

Resumable through a folder beside the index, OUT.parts/:
    OUT.parts/<first>-<key>.npy     the (n, D) float32 features of tracklets first .. first + n - 1
<key> is a sha256 of the model hash, the extraction settings and the shard's frame paths: a rerun (after a failure,
Ctrl-C or a crash) embeds only the shards not on disk, and a changed model, setting or gallery makes new keys. Each
shard is written atomically (vidreid/utils/io.py). A failed shard is retried (--retries: task retries and actor
restarts); shards that still fail are listed and the index is not written. OUT.parts is deleted once the index is.
Actors take one CPU each (--device cuda: one GPU each), --actors of them (default: all the CPUs or GPUs Ray has).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np

from ..errors import VidReIDError
from .ray_engine import one_line, ray_session, require_ray

SHARD = 256            # tracklets per actor call (a divisor of searcher.CHUNK: a chunk is whole shards)
PARTS_SUFFIX = ".parts"


class ShardsFailed(VidReIDError):
    """Some shards of a Ray embedding failed; the finished ones are kept in OUT.parts for the rerun."""


class Embedder:
    """A model actor: one FeatureExtractor (the checkpoint loaded once), embedding shard after shard."""

    def __init__(self, checkpoint: str, options: dict):
        from ..search.extractor import FeatureExtractor
        self.extractor = FeatureExtractor(checkpoint, **options)

    def embed(self, tracklets: list, path: str) -> int:
        """Embed `tracklets` and save their (n, D) features to `path` atomically -> n."""
        from ..utils.io import atomic_path
        feats = self.extractor.embed_tracklets(tracklets)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, feats.astype(np.float32, copy=False))
        return len(feats)


def shard_key(model: dict, tracklets: list) -> str:
    doc = {"model": model, "frames": [list(t.frames) for t in tracklets]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class RayEmbedding:
    """`embed_chunks` for Searcher.index: call it with (source, chunk) -> each chunk's features in order, after
    every shard is on disk. `cleanup()` deletes OUT.parts once the index is saved."""

    def __init__(self, out: str, extractor, options: dict, actors: int | None = None, address: str | None = None,
                 retries: int = 2, progress: bool = True, actor_class=Embedder):
        self.actor_class = actor_class            # (tests pass a subclass that fails on purpose)
        self.parts = os.path.abspath(out) + PARTS_SUFFIX
        self.checkpoint, self.options = extractor.checkpoint, dict(options, workers=0)   # frames read in the actor
        self.model = {"hash": extractor.model_hash, **extractor.extraction()}
        self.gpu = extractor.device.type == "cuda"
        self.actors, self.address, self.retries, self.progress = actors, address, retries, progress

    def __call__(self, source, chunk: int):
        from ..utils.io import RunLock
        total = len(source)
        shards = [(s, min(total, s + SHARD, c + chunk)) for c in range(0, total, chunk)
                  for s in range(c, min(total, c + chunk), SHARD)]              # (first, end) inside each chunk
        paths = [os.path.join(self.parts, f"{a}-{shard_key(self.model, source.tracklets[a:b])[:16]}.npy")
                 for a, b in shards]
        with RunLock(self.parts, "parts folder"):
            todo = [i for i, p in enumerate(paths) if not os.path.isfile(p)]
            if self.progress:
                print(f"ray: {len(todo)} of {len(shards)} shards to embed ({len(shards) - len(todo)} done in "
                      f"{self.parts})", flush=True)
            if todo:
                self._embed(source, shards, paths, todo)
        for c in range(0, total, chunk):                                       # loop over chunks
            yield np.concatenate([np.load(p) for (a, _), p in zip(shards, paths) if c <= a < c + chunk])

    def _embed(self, source, shards, paths, todo) -> None:
        """The shards `todo` through a pool of model actors; ShardsFailed naming those that failed every try."""
        with ray_session(self.address, self.actors) as ray:
            have = ray.cluster_resources().get("GPU" if self.gpu else "CPU", 1)
            count = max(1, min(len(todo), int(self.actors or have)))
            cls = ray.remote(self.actor_class).options(num_cpus=1, num_gpus=1 if self.gpu else 0,
                                               max_restarts=self.retries, max_task_retries=self.retries)
            idle = [cls.remote(self.checkpoint, self.options) for _ in range(count)]
            queue, running, failed = list(todo), {}, {}
            try:                                                               # (actors end with their handles)
                while queue or running:
                    while queue and idle:                                      # keep every actor busy
                        i, actor = queue.pop(0), idle.pop()
                        a, b = shards[i]
                        running[actor.embed.remote(source.tracklets[a:b], paths[i])] = (i, actor)
                    ready, _ = ray.wait(list(running), num_returns=1)
                    i, actor = running.pop(ready[0])
                    try:
                        ray.get(ready[0])
                    except Exception as e:                                     # every try of this shard failed
                        failed[i] = one_line(e)
                        ray.kill(actor)                                        # it may be dead: a fresh one
                        actor = cls.remote(self.checkpoint, self.options)
                    idle.append(actor)
            except BaseException:
                for _, actor in running.values():                              # Ctrl-C: stop the actors now
                    ray.kill(actor)
                raise
        if failed:
            first = min(failed)
            raise ShardsFailed(f"{len(failed)} of {len(shards)} shards failed (first: tracklets {shards[first][0]}-"
                               f"{shards[first][1] - 1}: {failed[first]}); the {len(shards) - len(failed)} done are "
                               f"kept in {self.parts}: rerun the same command to embed only the rest")

    def cleanup(self) -> None:
        shutil.rmtree(self.parts, ignore_errors=True)


def check_ray_options(args) -> None:
    """`index build --engine ray`: Ray installed and the options sane, before the model is even loaded."""
    from ..errors import ConfigError
    require_ray()
    if (args.actors is not None and args.actors < 1) or args.retries < 0:
        raise ConfigError(f"need --actors >= 1 and --retries >= 0, got {args.actors}, {args.retries}")


def ray_embedding(args, out: str, extractor) -> RayEmbedding:
    """The RayEmbedding of `index build`'s options (the actors embed as the command's extractor would)."""
    return RayEmbedding(out, extractor, {"device": str(extractor.device), "batch_size": args.batch_size},
                        args.actors, args.address, args.retries, not args.no_progress)
