"""`Searcher`: embed a gallery into an index, search it with a probe tracklet — the API behind `vidreid index` and
`vidreid search`.

    from vidreid import Searcher
    s = Searcher("runs/mars/checkpoints/best.safetensors")
    s.index("gallery/", out="gallery.index")          # a folder of tracklet folders, a manifest, a dataset ...
    for hit in s.search("probe_video.mp4", top=10, box=(40, 20, 120, 300)):
        print(hit.rank, hit.distance, hit.tracklet, hit.camera)

    s = Searcher("best.safetensors", index="gallery.index")   # reopen (refused if the checkpoint differs)
    s.add("new_tracklets/")                                   # append, saved in place
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import VidReIDError
from .extractor import FeatureExtractor
from .gallery import GallerySource, camera_of_path, resolve_gallery
from .index import GalleryIndex, Hit, SearchIndexError, faiss_index, index_spec
from .probe import Probe, load_probe

CHUNK = 4096   # gallery tracklets embedded per loader pass (bounds memory; IVF trains on the first passes)


@dataclass
class SearchResult:
    probe: Probe
    camera: str | None            # the probe's camera (given, or read from its path with the index's pattern)
    hits: list[Hit]
    feature: np.ndarray           # (D,) the probe's normalised feature
    exclude_same_camera: bool

    centred: bool = False         # the index subtracts the gallery mean before comparing

    def to_dict(self) -> dict:
        return {"probe": dict(self.probe.describe(), camera=self.camera),
                "exclude_same_camera": self.exclude_same_camera,
                "distance": "1 - cosine similarity" + (" of centred features" if self.centred else ""),
                "percentile": "100 * rank / tracklets searched: the share of the gallery at this distance or closer",
                "probability": "calibrated same-person probability (null: the index has no calibration)",
                "hits": [h.to_dict() for h in self.hits]}


class Searcher:
    """A checkpoint's feature extractor + (optionally) an open gallery index.

    `index=PATH` opens an existing index and checks that it was built with this checkpoint (SearchIndexError if
    not); its extraction settings (clip sampling, T) then apply to probes. Other kwargs go to FeatureExtractor
    (device, sampling, seq_len, batch_size, workers).
    """

    def __init__(self, checkpoint: str, index: str | GalleryIndex | None = None, progress: bool = False,
                 **extractor_kwargs):
        self.extractor = FeatureExtractor(checkpoint, **extractor_kwargs)
        self.progress = progress
        self.gallery_index: GalleryIndex | None = None
        if index is not None:
            self.open(index)

    @property
    def model_hash(self) -> str:
        return self.extractor.model_hash

    # ------------------------------------------------------------------ indexes
    def open(self, index: str | GalleryIndex) -> GalleryIndex:
        """Open an index built with this checkpoint (SearchIndexError otherwise) and adopt its extraction
        settings, so probes are embedded exactly like its gallery."""
        gi = index if isinstance(index, GalleryIndex) else GalleryIndex.load(os.fspath(index))
        gi.check_model(self.model_hash, f"checkpoint {self.extractor.checkpoint}")
        ex = gi.header.get("extraction", {})
        self.extractor.sampling = ex.get("sampling", self.extractor.sampling)
        self.extractor.seq_len = int(ex.get("seq_len", self.extractor.seq_len))
        self.gallery_index = gi
        return gi

    def index(self, gallery=None, out: str | None = None, *, dataset: str | None = None, root: str | None = None,
              split: str | None = None, pattern: str | None = None, kind: str = "flat", factory: str | None = None,
              nlist: int | None = None, pq_m: int | None = None, nbits: int = 8, nprobe: int | None = None,
              centre: bool | str = "auto", calibration: str | None = "auto", embed_chunks=None, opq: bool = False,
              keep_features: bool = False) -> GalleryIndex:
        """Embed every tracklet of `gallery` into a new index (kept open), saved to `out` when given.

        gallery: a folder of tracklet folders (`pattern` reads camera / tracklet names from their paths), a manifest
        file, a VideoReIDDataset, a list of Tracklets or a GallerySource; or dataset=NAME, root=R (split: gallery |
        query | train | all). kind: flat (exact) | ivf | ivfpq | ivfhnswpq (nlist, pq_m, nbits, nprobe; opq: an OPQ
        rotation before PQ), or a FAISS `factory`. keep_features: store float16 features for exact re-ranking.
        centre: subtract the gallery mean (True / False, or "auto": the model's default, calibration.centre_by_default).
        calibration: a calibration.json written by `vidreid eval` (same model hash), "auto" (the newest one of this
        checkpoint's run, <run dir>/eval/*/calibration.json, if any) or None.
        embed_chunks: who embeds (see _embed_into; default this process).
        """
        from .calibration import centre_by_default
        if centre == "auto":
            centre = centre_by_default(self.extractor.model_name)
        calibration_doc = find_calibration(self.extractor.checkpoint, self.model_hash, calibration, bool(centre))
        source = resolve_gallery(gallery, dataset, root, split, pattern)
        if self.extractor.feat_dim:                                   # bad index options fail before embedding
            _, spec = index_spec(kind, factory, self.extractor.feat_dim, len(source), nlist, pq_m, nbits, opq)
            faiss_index(self.extractor.feat_dim, spec)
        gi = self._embed_into(None, source, dict(kind=kind, factory=factory, nlist=nlist, pq_m=pq_m, nbits=nbits,
                                                 nprobe=nprobe, pattern=source.pattern, centre=bool(centre), opq=opq,
                                                 keep_features=keep_features),
                             embed_chunks)
        if calibration_doc is not None:
            gi.set_calibration(*calibration_doc)
        if out is not None:
            gi.save(out)
        self.gallery_index = gi
        return gi

    def add(self, gallery=None, *, dataset: str | None = None, root: str | None = None, split: str | None = None,
            pattern: str | None = None, save: bool = True) -> int:
        """Append the tracklets of `gallery` to the open index without rebuilding it (saved in place when it was
        loaded from / saved to a folder and `save`). Returns the number added."""
        gi = self._require_index()
        source = resolve_gallery(gallery, dataset, root, split, pattern or gi.header.get("pattern"))
        known = gi.table.paths.as_bytes_set()
        new = [i for i, p in enumerate(source.paths) if p.encode("utf-8") not in known]   # loop over the new paths
        if len(new) < len(source):
            import sys
            dup = next(i for i, p in enumerate(source.paths) if p.encode("utf-8") in known)
            print(f"vidreid: skipping {len(source) - len(new)} of {len(source)} tracklets already in "
                  f"{gi.path or 'the index'} (same path, e.g. {source.paths[dup]})", file=sys.stderr)
            source = source.subset(new)
        if not len(source):
            return 0
        self._embed_into(gi, source, {})
        if save and gi.path:
            gi.save(gi.path)
        return len(source)

    def _chunk_features(self, source: GallerySource, chunk: int):
        """Each chunk's (n, D) features, in order, embedded here one chunk at a time."""
        total = len(source)
        for start in range(0, total, chunk):                          # loop over chunks of tracklets
            part = source.subset(range(start, min(total, start + chunk)))
            yield self.extractor.embed_tracklets(part.tracklets, self.progress, desc=f"embed {start + len(part)}/"
                                                 f"{total}" if total > chunk else "embed")

    def _embed_into(self, gi: GalleryIndex | None, source: GallerySource, create: dict,
                    embed_chunks=None) -> GalleryIndex:
        """Embed `source` CHUNK tracklets at a time into `gi` (a new index from `create` options when None). IVF/PQ
        indexes train on the pending features once there are enough of them (or at the end).
        embed_chunks(source, CHUNK) -> each chunk's features in order: None embeds here (_chunk_features); the Ray
        engine passes its model actors' (workflows/ray_index.py)."""
        ex = self.extractor
        pending: list[tuple[np.ndarray, GallerySource]] = []
        total = len(source)
        chunk_features = (embed_chunks or self._chunk_features)(source, CHUNK)
        for start in range(0, total, CHUNK):                          # loop over chunks of tracklets
            part = source.subset(range(start, min(total, start + CHUNK)))
            feats = next(chunk_features)
            from ..inference.extract import finite_rows
            keep = finite_rows(feats, part.tracklets, "gallery")  # no readable frame: not indexed
            if len(keep) < len(part):
                part, feats = part.subset(keep), feats[keep]
            if gi is None and not len(part):
                continue
            if gi is None:
                gi = GalleryIndex.create(feats.shape[1], ex.describe(), ex.extraction(), train_count=total,
                                         **create)
            if len(part):
                pending.append((feats, part))
            ready = gi.is_trained() or sum(len(p) for _, p in pending) >= _train_size(gi) \
                or start + CHUNK >= total
            if not ready or not pending:
                continue
            x = np.concatenate([f for f, _ in pending])
            gi.train(x)
            for f, p in pending:
                gi.add(f, p.names, p.cameras, p.pids, p.paths, [t.frames for t in p.tracklets], self.model_hash)
            pending = []
        if gi is None:
            raise VidReIDError(f"{source.description}: no tracklet to index (none has a readable frame)")
        return gi

    def _require_index(self) -> GalleryIndex:
        if self.gallery_index is None:
            raise SearchIndexError("no index open: call Searcher.index(gallery, out=...) or pass index=PATH")
        return self.gallery_index

    # ------------------------------------------------------------------ probes
    def embed(self, probe, box=None) -> np.ndarray:
        """(D,) normalised feature of a probe (folder of frames, video file, frame files, or uint8 frames)."""
        return self.extractor.embed_probe(self.load_probe(probe, box))

    def load_probe(self, probe, box=None) -> Probe:
        return load_probe(probe, box=box, size=self.extractor.input_size)

    def search(self, probe, top: int = 20, exclude_same_camera: bool = False, camera: str | None = None,
               box=None, nprobe: int | None = None, exact_rerank: int | None = None) -> list[Hit]:
        """The `top` nearest gallery tracklets of `probe`, best first (see `query` for the details)."""
        return self.query(probe, top, exclude_same_camera, camera, box, nprobe, exact_rerank).hits

    def query(self, probe, top: int = 20, exclude_same_camera: bool = False, camera: str | None = None,
              box=None, nprobe: int | None = None, exact_rerank: int | None = None) -> SearchResult:
        """Search with one probe tracklet -> SearchResult (hits + the probe, its camera and feature).

        exclude_same_camera skips gallery tracklets of the probe's camera: `camera` names it, else the index's
        folder pattern reads it from the probe's path (VidReIDError when neither gives one).
        exact_rerank=R: re-score R candidates with the index's stored features (GalleryIndex.search).
        """
        gi = self._require_index()
        if camera is not None and camera not in gi.table.camera_labels:   # a typo would silently exclude nothing
            raise VidReIDError(f"--camera {camera!r} is not a camera of the index (its cameras: "
                               f"{', '.join(c or '(none)' for c in gi.table.camera_labels[:10])}); pass one of "
                               f"those, as `vidreid index info` lists them")
        p = probe if isinstance(probe, Probe) else self.load_probe(probe, box)
        if p.kind == "video" and p.box is None:      # a scene, not a person: the features would describe the scene
            import sys
            print(f"vidreid: note: the probe is {p.source}'s whole frames (no --box): a re-ID probe shows one person; "
                  f"crop with --box x,y,w,h (and --frame N to follow the person)", file=sys.stderr)
        if camera is None and p.kind in ("folder", "files", "video"):
            camera = camera_of_path(p.source if p.kind != "files" else os.path.dirname(p.source),
                                    gi.header.get("pattern"))
            if camera is not None and camera not in gi.table.camera_labels:
                camera = None                                         # a path component that is not a camera
        if exclude_same_camera and camera is None:
            raise VidReIDError(f"--exclude-same-camera needs the probe's camera: pass --camera LABEL (cameras in "
                               f"the index: {', '.join(c or '(none)' for c in gi.table.camera_labels[:10])})")
        feat = self.extractor.embed_probe(p)
        dist, rows = gi.search(feat[None], top, [camera] if exclude_same_camera else None, nprobe, exact_rerank)
        searched = gi.searched_count(camera if exclude_same_camera else None)
        return SearchResult(p, camera, gi.hits(dist[0], rows[0], searched), feat, exclude_same_camera,
                            bool(gi.header.get("centred")))


def find_calibration(checkpoint: str, model_hash: str, calibration: str | None, centred: bool,
                     ) -> tuple[dict, str] | None:
    """(calibration dict for `centred` features, its file) from `calibration` (a calibration.json path, "auto" or
    None). "auto" picks the newest <run dir>/eval/*/calibration.json of the checkpoint's run made with the same model
    (hash); an explicit file of another model is refused."""
    import json
    if calibration is None or calibration == "none":
        return None
    if calibration == "auto":
        from ..store.run_folder import calibration_files
        candidates = calibration_files(checkpoint)
    else:
        candidates = [calibration]
    for path in candidates:                                           # loop over a few eval folders
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            if calibration == "auto":
                continue
            raise VidReIDError(f"--calibration {path}: unreadable ({e})") from None
        if doc.get("model_hash") != model_hash:
            if calibration == "auto":
                continue
            raise SearchIndexError(f"--calibration {path} was fitted for another model (hash "
                                   f"{str(doc.get('model_hash'))[:12]}, this checkpoint {model_hash[:12]}); run "
                                   f"`vidreid eval` with this checkpoint to make one")
        part = doc.get("centred" if centred else "plain")
        if not isinstance(part, dict):
            raise VidReIDError(f"--calibration {path}: no {'centred' if centred else 'plain'} calibration in it")
        return part, os.path.abspath(path)
    return None


def _train_size(gi: GalleryIndex) -> int:
    """Vectors to collect before training an untrained (IVF/PQ) index: 64 per inverted list, 256 per PQ centroid."""
    from .index import _ivf
    ivf = _ivf(gi.faiss_index)
    nlist = ivf.nlist if ivf is not None else 1
    return max(64 * nlist, 256 * 39)
