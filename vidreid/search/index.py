"""A gallery index on disk: FAISS vectors + tracklet metadata + the hash of the model that made the features.

Features are L2-normalised, so the inner product is the cosine similarity; distances reported are 1 - cos (0 = same
direction, 1 = orthogonal, 2 = opposite). Kinds (FAISS index_factory strings, all METRIC_INNER_PRODUCT):
    flat    "Flat"                      exact search (default); 4*D bytes per tracklet
    ivf     "IVF{nlist},Flat"           inverted lists: visits nprobe of nlist clusters; exact distances, approximate
                                        neighbours; 4*D bytes per tracklet; needs training (k-means on the gallery)
    ivfpq   "IVF{nlist},PQ{m}x{nbits}"  inverted lists + product quantisation: m*nbits/8 bytes per tracklet,
                                        approximate distances; for galleries of millions
    ivfhnswpq "IVF{nlist}_HNSW32,PQ{m}x{nbits}"  ivfpq with an HNSW graph over the list centroids: assigning a vector
                                        to one of ~65k lists costs a graph walk, not 65k products; tens of millions
  or any factory string (`factory=`), e.g. "HNSW32,Flat". opq=True puts an OPQ rotation before ivfpq / ivfhnswpq
  ("OPQ{m},IVF..."): lower PQ error for the same bytes. keep_features=True also stores every vector as float16 for
  exact re-ranking of PQ candidates (search(exact_rerank=R)): 2*D more bytes per tracklet, on disk, memory-mapped.

Folder layout (INDEX/):
    index.json               the header: format version, model (hash, name, checkpoint ...), extraction settings,
                             kind, count, dim, and the names of the current data files
    vectors.<gen>.faiss      faiss.write_index of the vectors
    tracklets.<gen>.<array>.npy  per-tracklet metadata, one .npy per array (header "tracklets_files"): packed UTF-8
                             strings (name, camera, path, thumbnail frame paths) + pid, frame count; opened with
                             mmap_mode="r", so opening 10 M tracklets reads only the pages a search touches
    features.<gen>.f16.npy   (keep_features only) the indexed vectors as float16, (N, D), memory-mapped
  Format version 1 (still read) kept the metadata in one tracklets.<gen>.npz, read whole; a save writes version 2.
Writes are atomic: a save writes generation gen+1's data files (each to a temporary file renamed into place), then
replaces index.json (the commit point), then deletes the older generation. A crash leaves the previous index intact.
One writer at a time (`index add` from two processes at once would lose one of the additions).
"""
from __future__ import annotations

import glob
import json
import os
import time
import zipfile
from dataclasses import asdict, dataclass

import numpy as np

from .. import __version__
from ..errors import VidReIDError
from ..utils.io import LOCK_NAME

FORMAT = "vidreid-gallery-index"
FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)       # 1: metadata in one .npz (read whole); 2: one memory-mapped .npy per array
HEADER = "index.json"
_HEADER_KEYS = {1: ("vectors_file", "tracklets_file", "count", "dim", "model", "extraction"),   # what load() reads
                2: ("vectors_file", "tracklets_files", "count", "dim", "model", "extraction")}
KINDS = ("flat", "ivf", "ivfpq", "ivfhnswpq")
PQ_KINDS = ("ivfpq", "ivfhnswpq")   # the kinds an OPQ rotation can precede
# Vectors an untrained IVF/PQ index trains on at most: a seeded random sample of the first add/train. Training time
# grows linearly with the sample (k-means: sample x nlist products per iteration; PQ: sample x 2^nbits per
# sub-quantiser) and the sample is one more float32 copy in memory (10 M x 512-d = 20 GB). FAISS itself trains each
# PQ codebook on at most 256 x 2^nbits = 65 536 vectors and k-means on at most 256 x nlist, so 256 k loses nothing
# for 8-bit PQ or up to 1 000 lists; with more lists (65 k for 10 M tracklets) it gives fewer than FAISS's suggested 39
# points per centroid (FAISS prints a warning): the lists come out less balanced, which costs some recall per
# nprobe, a trade made for training in minutes rather than hours on a CPU.
TRAIN_SAMPLE = 256_000
THUMBNAILS = 8               # frame paths kept per tracklet for result pages
# float16 copies (keep_features) an index holds in memory while it is filled, at most; more go to a temporary file
# (Chunks' spill). 256 MiB = 500 k tracklets of 256 dimensions.
FEATURE_SPILL_BYTES = 256 << 20
FLAT_BLOCK = 1 << 26         # similarities per block of queries in the exact search (256 MB of float32)


class SearchIndexError(VidReIDError):
    """An index folder is missing, damaged, or was built with another model."""


def _faiss():
    try:
        import faiss
    except ImportError:
        raise VidReIDError("search needs FAISS: pip install 'vidreid[search]' (faiss-cpu)") from None
    return faiss


@dataclass(frozen=True)
class Hit:
    """One search result."""
    rank: int                    # 1-based
    distance: float              # 1 - cosine similarity (approximate for PQ indexes)
    tracklet: str                # display name
    camera: str                  # camera label ("" = unknown)
    index: int                   # row in the index (0-based, in insertion order)
    pid: int                     # person id when the gallery gave one, else -1
    path: str                    # the tracklet's folder (or first frame)
    num_frames: int
    thumbnails: tuple[str, ...]  # up to 8 evenly spaced frame paths
    percentile: float = float("nan")   # % of the searched gallery at this distance or closer (100 * rank / N)
    probability: float | None = None   # calibrated same-person probability (None: the index has no calibration)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["thumbnails"] = list(self.thumbnails)
        return d


def format_percentile(p: float) -> str:
    """A hit's percentile (100 * rank / tracklets searched) as a short percentage: 0.011%, 0.25%, 3.1%, 45%."""
    return f"{p:.2g}%" if p < 10 else f"{p:.0f}%"


class Chunks:
    """An array grown along axis 0 by appending chunks and concatenated only when read whole: n appends cost O(total),
    not O(n x total) (a sharded fill calls `add` thousands of times). The first chunk may be a read-only memmap
    (a loaded index): nothing is ever written into a chunk, concatenation copies.

    spill_bytes: once the appended chunks held in memory exceed this many bytes, they are moved to an anonymous
    temporary file (in `spill_dir`, default the system's temporary folder: TMPDIR) and read back through a memmap,
    so a build of tens of millions of rows holds at most spill_bytes of them in memory. The file has no name (it
    vanishes with the process, even a killed one); `take` and `save` read it, `array` would copy it whole."""

    def __init__(self, base: np.ndarray, spill_bytes: int | None = None, spill_dir: str | None = None):
        self._parts = [base]
        self._len = len(base)
        self._spill_bytes, self._spill_dir = spill_bytes, spill_dir
        self._spill = None          # the temporary file holding spilled rows (parts[1] maps it), None: none yet
        self._spilled = 0           # rows in it
        self._held = 0              # bytes of appended chunks in memory

    def __len__(self) -> int:
        return self._len

    def append(self, part: np.ndarray) -> None:
        if len(part):
            self._parts.append(part)
            self._len += len(part)
            self._held += part.nbytes
            if self._spill_bytes is not None and self._held > self._spill_bytes:
                self._spill_held()

    def _spill_held(self) -> None:
        """Write the in-memory appended chunks to the spill file; parts become [base, memmap of the file]."""
        import tempfile
        first = 2 if self._spill is not None else 1
        held = self._parts[first:]
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(dir=self._spill_dir, prefix="vidreid-spill-")
        self._spill.seek(0, os.SEEK_END)
        for part in held:                                         # loop over chunks
            self._spill.write(memoryview(np.ascontiguousarray(part, self._parts[0].dtype)).cast("B"))
        self._spill.flush()
        self._spilled += sum(len(p) for p in held)
        base = self._parts[0]
        self._parts = [base, np.memmap(self._spill, base.dtype, "r", shape=(self._spilled, *base.shape[1:]))]
        self._held = 0

    @property
    def held_bytes(self) -> int:
        """Bytes of appended chunks in memory (not yet spilled)."""
        return self._held

    @property
    def array(self) -> np.ndarray:
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
            self._held, self._spill, self._spilled = 0, None, 0
        return self._parts[0]

    def take(self, rows: np.ndarray) -> np.ndarray:
        """self.array[rows] (rows: any shape of valid row numbers) without concatenating the chunks: a memmapped
        first chunk stays on disk, only the rows asked for are read."""
        if len(self._parts) == 1:
            return self._parts[0][rows]
        flat = np.asarray(rows, np.int64).ravel()
        ends = np.cumsum([len(p) for p in self._parts])
        which = np.searchsorted(ends, flat, side="right")
        first = self._parts[0]
        out = np.empty((len(flat), *first.shape[1:]), first.dtype)
        for j in np.unique(which).tolist():                       # loop over the chunks touched
            sel = which == j
            out[sel] = self._parts[j][flat[sel] - (ends[j] - len(self._parts[j]))]
        return out.reshape(*np.shape(rows), *first.shape[1:])

    def save(self, path: str) -> None:
        """Write the concatenation to the .npy file `path` chunk by chunk (no whole copy in memory: a memmapped
        chunk is copied in blocks of at most 64 MiB)."""
        first = self._parts[0]
        header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
                  "shape": (self._len, *first.shape[1:])}
        with open(path, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            for part in self._parts:                              # loop over chunks
                rows = max(1, (64 << 20) // max(1, part[:1].nbytes))
                for a in range(0, len(part), rows):               # loop over blocks of a memmapped chunk
                    f.write(memoryview(np.ascontiguousarray(part[a:a + rows])).cast("B"))


class PackedStrings:
    """Many strings in two arrays: UTF-8 bytes (uint8) and offsets (int64, len + 1). Saves and loads without pickle,
    appends chunks (concatenated when read), decodes one string on demand; the arrays may be read-only memmaps."""

    def __init__(self, data: np.ndarray | None = None, offsets: np.ndarray | None = None):
        offsets = np.zeros(1, np.int64) if offsets is None else np.asarray(offsets, np.int64)
        self._data = Chunks(np.zeros(0, np.uint8) if data is None else np.asarray(data, np.uint8))
        self._offsets = Chunks(offsets)
        self._end = int(offsets[-1])                               # = len(data), without reading a memmap whole

    @property
    def data(self) -> np.ndarray:
        return self._data.array

    @property
    def offsets(self) -> np.ndarray:
        return self._offsets.array

    @classmethod
    def from_list(cls, strings) -> "PackedStrings":
        encoded = [s.encode("utf-8") for s in strings]
        lengths = np.fromiter((len(b) for b in encoded), np.int64, len(encoded))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(np.frombuffer(b"".join(encoded), np.uint8).copy(), offsets)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.data[a:b].tobytes().decode("utf-8")

    def as_bytes_set(self) -> set[bytes]:
        """Every string, UTF-8 encoded, as a set (membership tests without decoding)."""
        blob = self.data.tobytes()
        return {blob[a:b] for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())}

    def extend(self, other: "PackedStrings") -> None:
        self._offsets.append(other.offsets[1:] + self._end)
        self._data.append(other.data)
        self._end += int(other.offsets[-1])


class TrackletTable:
    """Per-tracklet metadata, column-wise: names, camera labels (as codes into `camera_labels`), pids, frame counts,
    paths and thumbnail frame paths (`thumbs[thumb_start[i]:thumb_start[i+1]]`). Columns grow in chunks (`Chunks`)
    and may start as read-only memmaps of a saved index."""

    def __init__(self):
        self.names, self.paths, self.thumbs = PackedStrings(), PackedStrings(), PackedStrings()
        self.camera_labels: list[str] = []
        self._cols = {"camera_codes": Chunks(np.zeros(0, np.int32)), "pids": Chunks(np.zeros(0, np.int64)),
                      "num_frames": Chunks(np.zeros(0, np.int64)), "thumb_start": Chunks(np.zeros(1, np.int64))}

    camera_codes = property(lambda self: self._cols["camera_codes"].array)
    pids = property(lambda self: self._cols["pids"].array)
    num_frames = property(lambda self: self._cols["num_frames"].array)
    thumb_start = property(lambda self: self._cols["thumb_start"].array)

    def __len__(self) -> int:
        return len(self._cols["pids"])

    def append(self, names, cameras, pids, paths, frame_lists) -> None:
        labels = {c: i for i, c in enumerate(self.camera_labels)}
        for c in cameras:                                          # loop over tracklets (labels are few)
            if c not in labels:
                labels[c] = len(self.camera_labels)
                self.camera_labels.append(c)
        codes = np.fromiter((labels[c] for c in cameras), np.int32, len(cameras))
        picks = [_thumbnail_paths(f) for f in frame_lists]
        counts = np.fromiter((len(p) for p in picks), np.int64, len(picks))
        thumbs_before = len(self.thumbs)                           # = thumb_start[-1]
        self.names.extend(PackedStrings.from_list(names))
        self.paths.extend(PackedStrings.from_list(paths))
        self.thumbs.extend(PackedStrings.from_list([p for ps in picks for p in ps]))
        self._cols["thumb_start"].append(thumbs_before + np.cumsum(counts))
        self._cols["camera_codes"].append(codes)
        self._cols["pids"].append(np.asarray(pids, np.int64))
        self._cols["num_frames"].append(np.fromiter((len(f) for f in frame_lists), np.int64, len(frame_lists)))

    def camera(self, i: int) -> str:
        return self.camera_labels[int(self.camera_codes[i])]

    def thumbnails(self, i: int) -> tuple[str, ...]:
        return tuple(self.thumbs[j] for j in range(int(self.thumb_start[i]), int(self.thumb_start[i + 1])))

    def columns(self) -> dict[str, Chunks]:
        """Every array of the table by its file name (`arrays()` concatenated; `Chunks.save` writes one)."""
        labels = PackedStrings.from_list(self.camera_labels)
        return {"names_data": self.names._data, "names_offsets": self.names._offsets,
                "paths_data": self.paths._data, "paths_offsets": self.paths._offsets,
                "thumbs_data": self.thumbs._data, "thumbs_offsets": self.thumbs._offsets,
                **self._cols, "camera_labels": labels._data, "camera_labels_offsets": labels._offsets}

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: c.array for k, c in self.columns().items()}

    @classmethod
    def from_arrays(cls, a) -> "TrackletTable":
        t = cls()
        t.names = PackedStrings(a["names_data"], a["names_offsets"])
        t.paths = PackedStrings(a["paths_data"], a["paths_offsets"])
        t.thumbs = PackedStrings(a["thumbs_data"], a["thumbs_offsets"])
        labels = PackedStrings(a["camera_labels"], a["camera_labels_offsets"])
        t.camera_labels = [labels[i] for i in range(len(labels))]
        t._cols = {k: Chunks(a[k]) for k in t._cols}
        return t


def _thumbnail_paths(frames) -> list[str]:
    n = len(frames)
    if n == 0:
        return []
    picks = np.unique(np.linspace(0, n - 1, min(THUMBNAILS, n)).round().astype(np.int64))
    return [os.path.abspath(frames[i]) for i in picks.tolist()]


def factory_string(kind: str, dim: int, count: int, nlist: int | None = None, pq_m: int | None = None,
                   nbits: int = 8, opq: bool = False) -> str:
    """The FAISS index_factory string of an index kind for `count` training vectors of dimension `dim`."""
    if kind not in KINDS:
        raise VidReIDError(f"index kind must be one of {', '.join(KINDS)} (or a FAISS factory string), got {kind!r}")
    if opq and kind not in PQ_KINDS:
        raise VidReIDError(f"--opq rotates vectors before product quantisation: it needs --index-type "
                           f"{' or '.join(PQ_KINDS)}, not {kind}")
    if kind == "flat":
        return "Flat"
    if nlist is None:                                              # ~4 sqrt(N) lists, >= 39 training points each
        nlist = int(max(1, min(4 * np.sqrt(max(count, 1)), count // 39)))
    if nlist < 1 or nlist > count:
        raise VidReIDError(f"--nlist {nlist}: an IVF index needs 1 <= nlist <= the number of gallery tracklets at "
                           f"build time ({count}); use --index-type flat for a small gallery")
    if kind == "ivf":
        return f"IVF{nlist},Flat"
    if pq_m is not None and pq_m < 1 or not 1 <= nbits <= 16:
        raise VidReIDError(f"need --pq-m >= 1 and 1 <= --pq-bits <= 16, got {pq_m}, {nbits}")
    m = pq_m or max(1, dim // 16)
    if dim % m:
        raise VidReIDError(f"--pq-m {m} must divide the feature dimension {dim}")
    if count < 2 ** nbits:
        raise VidReIDError(f"a PQ index with {nbits}-bit codes needs at least {2 ** nbits} tracklets to train "
                           f"(got {count}); use --index-type ivf or flat, or fewer --pq-bits")
    # HNSW32 over the centroids: FAISS's choice for 64 k+ lists, where a flat quantiser's nlist products per vector
    # dominate adding and searching
    quantiser = "_HNSW32" if kind == "ivfhnswpq" else ""
    return f"{f'OPQ{m},' if opq else ''}IVF{nlist}{quantiser},PQ{m}x{nbits}"


def index_spec(kind: str, factory: str | None, dim: int, count: int, nlist: int | None = None,
               pq_m: int | None = None, nbits: int = 8, opq: bool = False) -> tuple[str, str]:
    """(kind, FAISS factory string) of create()'s options: `factory` wins (kind "factory"), else factory_string;
    VidReIDError for options that do not fit (checked before any embedding)."""
    if factory:
        if opq:
            raise VidReIDError("--opq goes with --index-type ivfpq / ivfhnswpq; with --factory write the rotation "
                               "into the factory string (e.g. OPQ64,IVF4096,PQ64x8)")
        return "factory", factory
    return kind, factory_string(kind, dim, count, nlist, pq_m, nbits, opq)


def train_sample(n: int, seed: int = 0) -> np.ndarray:
    """Sorted rows of a seeded random sample of min(n, TRAIN_SAMPLE) of n training vectors (the same on every run)."""
    if n <= TRAIN_SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, TRAIN_SAMPLE, replace=False))


def faiss_index(dim: int, factory: str):
    """An empty FAISS index of `factory` (inner-product metric), or VidReIDError naming the factory string."""
    faiss = _faiss()
    try:
        return faiss.index_factory(int(dim), factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise VidReIDError(f"FAISS cannot build index {factory!r}: {str(e).splitlines()[-1]}") from None


class GalleryIndex:
    """Vectors + metadata of one gallery. Build with `GalleryIndex.create(...)`, fill with `add`, persist with
    `save(folder)`; `GalleryIndex.load(folder)` reopens one."""

    def __init__(self, faiss_index, header: dict, table: TrackletTable, path: str | None = None,
                 centre_mean: np.ndarray | None = None, features: np.ndarray | None = None):
        self.faiss_index, self.header, self.table, self.path = faiss_index, header, table, path
        self.centre_mean = centre_mean         # (D,) subtracted before search when centring is on (set at 1st add)
        # (N, D) float16 copies of the indexed vectors (keep_features), for exact re-ranking; None: not kept
        self.features = None
        if features is not None or header.get("keep_features"):
            base = features if features is not None else np.zeros((0, int(header["dim"])), np.float16)
            self.features = Chunks(base, spill_bytes=FEATURE_SPILL_BYTES)   # a 10 M build must not hold 5 GB
        self._bitmaps: dict[int, np.ndarray] = {}
        self._flat_view: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, dim: int, model: dict, extraction: dict, kind: str = "flat", factory: str | None = None,
               nprobe: int | None = None, pattern: str | None = None, train_count: int = 0,
               nlist: int | None = None, pq_m: int | None = None, nbits: int = 8, centre: bool = False,
               opq: bool = False, keep_features: bool = False) -> "GalleryIndex":
        """An empty index. `model` must hold "hash" (see extractor.model_hash); `train_count` = how many vectors the
        first `add` brings (IVF/PQ train on them). centre: subtract the gallery's mean feature from every vector
        (gallery and probes) and L2-normalise again (vidreid.search.calibration.center_features); the mean is that
        of the first vectors trained on / added (the whole gallery up to searcher.CHUNK tracklets) and stays fixed.
        opq: an OPQ rotation before PQ (ivfpq / ivfhnswpq). keep_features: also store the vectors as float16 for
        search(exact_rerank=R)."""
        kind, factory = index_spec(kind, factory, dim, train_count, nlist, pq_m, nbits, opq)
        faiss = _faiss()
        index = faiss_index(dim, factory)
        ivf = _ivf(index)                      # also inside an OPQ IndexPreTransform
        if ivf is not None:
            ivf.nprobe = int(nprobe or max(1, min(ivf.nlist, max(8, ivf.nlist // 16))))
            ivf = faiss.downcast_index(ivf)    # extract_index_ivf gives the IndexIVF base class, not IndexIVFPQ
            if hasattr(ivf, "do_polysemous_training"):
                # FAISS trains IVFPQ codes for polysemous search by default: minutes of simulated annealing that
                # only Hamming-distance filtering (unused here) benefits from
                ivf.do_polysemous_training = False
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        header = {"format": FORMAT, "version": FORMAT_VERSION, "generation": 0, "dim": int(dim),
                  "metric": "cosine (inner product of L2-normalised features); distance = 1 - cos",
                  "kind": kind, "centred": bool(centre), "calibration": None,
                  "keep_features": bool(keep_features), "factory": factory,
                  "nprobe": ivf.nprobe if ivf is not None else None, "count": 0,
                  "model": dict(model), "extraction": dict(extraction), "pattern": pattern,
                  "created": now, "updated": now, "vidreid_version": __version__}
        return cls(index, header, TrackletTable())

    @classmethod
    def load(cls, path: str) -> "GalleryIndex":
        faiss = _faiss()
        head_path = os.path.join(path, HEADER)
        if not os.path.isfile(head_path):
            what = "no such folder" if not os.path.isdir(path) else f"no {HEADER} in it"
            raise SearchIndexError(f"{path}: not a vidreid index ({what}); build one with `vidreid index build`")
        try:
            with open(head_path) as f:
                header = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SearchIndexError(f"{head_path}: unreadable index header ({e})") from None
        if not isinstance(header, dict):
            raise SearchIndexError(f"{head_path}: not an index header (a JSON {type(header).__name__}, expected an "
                                   f"object)")
        if header.get("format") != FORMAT or header.get("version") not in READ_VERSIONS:
            raise SearchIndexError(f"{head_path}: not a {FORMAT} version {' or '.join(map(str, READ_VERSIONS))} "
                                   f"header (format {header.get('format')!r}, version {header.get('version')!r})")
        missing = [k for k in _HEADER_KEYS[header["version"]] if k not in header]
        if missing or not isinstance(header.get("model"), dict) or "hash" not in header["model"]:
            raise SearchIndexError(f"{head_path}: damaged index header (missing {', '.join(missing) or 'model.hash'}); "
                                   f"rebuild the index with `vidreid index build`")
        vec_path = os.path.join(path, header["vectors_file"])
        try:
            index = faiss.read_index(vec_path)
        except RuntimeError as e:
            raise SearchIndexError(f"{vec_path}: unreadable FAISS index ({str(e).splitlines()[-1]})") from None
        table, centre_mean, tab_path = _read_table(path, header)
        features = None
        if header.get("keep_features") and not header.get("features_file"):
            raise SearchIndexError(f"{head_path}: damaged index header (keep_features without a features_file); "
                                   f"rebuild the index with `vidreid index build --keep-features`")
        if header.get("features_file"):
            feat_path = os.path.join(path, header["features_file"])
            features = _open_npy(feat_path, "stored features")
            if features.shape != (index.ntotal, index.d) or features.dtype != np.float16:
                raise SearchIndexError(f"{feat_path}: stored features of shape {features.shape} ({features.dtype}) "
                                       f"do not fit {index.ntotal} vectors of dimension {index.d} (float16)")
        if not (index.ntotal == len(table) == header["count"]) or index.d != header["dim"]:
            raise SearchIndexError(f"{path}: inconsistent index ({index.ntotal} vectors of dim {index.d}, "
                                   f"{len(table)} tracklets, header says {header['count']} of dim {header['dim']})")
        ivf = _ivf(index)
        if ivf is not None and header.get("nprobe"):
            ivf.nprobe = int(header["nprobe"])
        if header.get("centred") and len(table) and (centre_mean is None or centre_mean.shape != (index.d,)):
            raise SearchIndexError(f"{tab_path}: the index is centred but holds no mean feature of dimension "
                                   f"{index.d}")
        return cls(index, header, table, path, centre_mean, features)

    # ------------------------------------------------------------------ properties
    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.header["dim"])

    @property
    def model_hash(self) -> str:
        return self.header["model"]["hash"]

    def check_model(self, model_hash: str, what: str = "this checkpoint") -> None:
        """SearchIndexError unless `model_hash` is the hash of the model the index was built with."""
        if model_hash != self.model_hash:
            m = self.header["model"]
            raise SearchIndexError(
                f"{self.path or 'index'} was built with model {m.get('name')} ({m.get('backbone')}) hash "
                f"{self.model_hash[:12]} from {m.get('checkpoint')}; {what} has hash {model_hash[:12]}: features "
                f"of different models are not comparable (rebuild the index with `vidreid index build`)")

    def is_trained(self) -> bool:
        return bool(self.faiss_index.is_trained)

    # ------------------------------------------------------------------ writing
    def transform(self, features: np.ndarray) -> np.ndarray:
        """What is stored / searched for L2-normalised `features` (Q, D): the features themselves, or, in a centred
        index, the features minus the gallery mean, L2-normalised (the mean is fixed by the first call with rows)."""
        x = _as_queries(features, self.dim)
        if not self.header.get("centred") or not len(x):
            return x
        from .calibration import center_features
        if self.centre_mean is None:
            self.centre_mean = center_features(x).mean
        return np.ascontiguousarray(center_features(x, self.centre_mean).features)

    def train(self, features: np.ndarray) -> None:
        """Train an untrained (IVF/PQ) index on `features` (N, D), or on TRAIN_SAMPLE of them when N is larger."""
        if not self.is_trained():
            self._train(self.transform(features))

    def _train(self, x: np.ndarray) -> None:
        self.faiss_index.train(x[train_sample(len(x))] if len(x) > TRAIN_SAMPLE else x)

    def add(self, features: np.ndarray, names, cameras, pids, paths, frame_lists, model_hash: str) -> None:
        """Append tracklets (features must be L2-normalised, one row per tracklet, from the index's model)."""
        self.check_model(model_hash, "the model that computed these features")
        x = self.transform(features)
        n = len(x)
        if not (len(names) == len(cameras) == len(pids) == len(paths) == len(frame_lists) == n):
            raise ValueError("GalleryIndex.add: features and metadata lists differ in length")
        if n == 0:
            return
        if not self.is_trained():
            self._train(x)
        self.faiss_index.add(x)
        if self.features is not None:
            self.features.append(x.astype(np.float16))              # exactly what was indexed
        self.table.append(names, cameras, pids, paths, frame_lists)
        self.header["count"] = len(self.table)
        self._bitmaps.clear()
        self._flat_view = None                                    # FAISS may have moved its storage

    def save(self, path: str | None = None) -> str:
        """Write the index folder atomically (see the module docstring); returns its path."""
        from ..utils.io import atomic_path
        faiss = _faiss()
        path = os.path.abspath(path or self.path or "")
        if not path:
            raise VidReIDError("GalleryIndex.save needs a folder")
        if os.path.exists(path) and not os.path.isdir(path):
            raise SearchIndexError(f"{path} exists and is not a folder")
        if os.path.isdir(path) and set(os.listdir(path)) - {LOCK_NAME} and not os.path.isfile(os.path.join(path, HEADER)):
            raise SearchIndexError(f"{path} is a folder of other files, not a vidreid index: not writing an index "
                                   f"into it (choose a new --out)")
        os.makedirs(path, exist_ok=True)
        old = _read_generation(path)
        gen = max(old, int(self.header.get("generation", 0))) + 1
        columns = self.table.columns()
        if self.centre_mean is not None:
            columns["centre_mean"] = Chunks(np.asarray(self.centre_mean, np.float32))
        header = dict(self.header, version=FORMAT_VERSION, generation=gen, count=len(self),
                      vectors_file=f"vectors.{gen}.faiss",
                      tracklets_files={k: f"tracklets.{gen}.{k}.npy" for k in columns},
                      features_file=f"features.{gen}.f16.npy" if self.features is not None else None,
                      updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        header.pop("tracklets_file", None)                        # (version 1's .npz)
        with atomic_path(os.path.join(path, header["vectors_file"])) as tmp:
            faiss.write_index(self.faiss_index, tmp)
        for k, column in columns.items():                         # loop over a dozen arrays
            with atomic_path(os.path.join(path, header["tracklets_files"][k])) as tmp:
                column.save(tmp)
        if self.features is not None:
            with atomic_path(os.path.join(path, header["features_file"])) as tmp:
                self.features.save(tmp)
        with atomic_path(os.path.join(path, HEADER)) as tmp:       # the commit point
            with open(tmp, "w") as f:
                json.dump(header, f, indent=1)
        keep = {header["vectors_file"], *header["tracklets_files"].values(), header["features_file"]}
        generations = [*glob.glob(os.path.join(path, "vectors.*.faiss")),
                       *glob.glob(os.path.join(path, "tracklets.*.npz")),
                       *glob.glob(os.path.join(path, "tracklets.*.npy")),
                       *glob.glob(os.path.join(path, "features.*.f16.npy"))]
        for stale in generations:
            if os.path.basename(stale) not in keep:
                os.unlink(stale)                                  # (a memmap of it, in this process, stays valid)
        self.header, self.path = header, path
        return path

    # ------------------------------------------------------------------ searching
    def search(self, features: np.ndarray, top: int = 20, exclude_cameras=None, nprobe: int | None = None,
               exact_rerank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """features (Q, D) normalised -> (distances (Q, k), rows (Q, k)), k = min(top, len), best first.
        exclude_cameras: per query a camera label whose tracklets are skipped (None = none). Rows of -1 (distance
        inf) pad the results when fewer than k tracklets qualify (or an IVF search visits too few).
        exact_rerank=R: take max(R, top) candidates from FAISS, re-score them with the stored float16 features
        (an index made with keep_features) and keep the best k: exact distances (to float16 rounding) for PQ."""
        x = self.transform(features)
        k = int(min(top, len(self)))
        if exact_rerank is not None:
            self.require_features()
            if exact_rerank < 1:
                raise SearchIndexError(f"exact re-ranking needs >= 1 candidates, got {exact_rerank}")
        if k <= 0 or len(x) == 0:
            return np.zeros((len(x), 0), np.float32), np.zeros((len(x), 0), np.int64)
        if exact_rerank is None:
            return self._search(x, k, exclude_cameras, nprobe)
        _, rows = self._search(x, int(min(max(exact_rerank, k), len(self))), exclude_cameras, nprobe)
        return self._rerank(x, rows, k)

    def require_features(self) -> None:
        """SearchIndexError unless the index stores its features (keep_features), as exact re-ranking needs."""
        if self.features is None:
            raise SearchIndexError(f"{self.path or 'this index'} keeps no features for exact re-ranking: rebuild it "
                                   f"with `vidreid index build --keep-features` (2 bytes per dimension and tracklet "
                                   f"more)")

    def _rerank(self, x: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best k of candidate `rows` (Q, R) (-1: none) by exact inner products with the stored features, in
        blocks of queries of at most FLAT_BLOCK gathered values (float32 math)."""
        dist = np.empty((len(x), k), np.float32)
        out = np.empty((len(x), k), np.int64)
        block = max(1, FLAT_BLOCK // max(1, rows.shape[1] * x.shape[1]))
        for a in range(0, len(x), block):                         # loop over blocks of queries
            b = min(len(x), a + block)
            r = rows[a:b]
            feats = self.features.take(np.maximum(r, 0)).astype(np.float32)        # (q, R, D)
            sims = np.where(r >= 0, np.einsum("qd,qrd->qr", x[a:b], feats), -np.inf)
            order = np.lexsort((r, -sims), axis=1)[:, :k]         # best first, ties by row (as FAISS)
            best, picked = np.take_along_axis(sims, order, 1), np.take_along_axis(r, order, 1)
            out[a:b] = np.where(np.isfinite(best), picked, -1)
            dist[a:b] = np.where(np.isfinite(best), np.clip(1.0 - best, 0.0, 2.0), np.inf)
        return dist, out

    def _search(self, x: np.ndarray, k: int, exclude_cameras, nprobe: int | None) -> tuple[np.ndarray, np.ndarray]:
        """search() of transformed queries x for k >= 1 results (FAISS's or the flat BLAS scores)."""
        faiss = _faiss()
        if self._flat_vectors() is not None:
            return self._search_flat(x, k, exclude_cameras)
        ivf = _ivf(self.faiss_index)
        def params(sel=None):
            if ivf is not None:
                return faiss.SearchParametersIVF(sel=sel, nprobe=int(nprobe or ivf.nprobe))
            return faiss.SearchParameters(sel=sel) if sel is not None else None
        sims = np.full((len(x), k), -np.inf, np.float32)
        rows = np.full((len(x), k), -1, np.int64)
        groups = self._camera_groups(exclude_cameras, len(x))     # code -> query rows (code -1: exclude nothing)
        for code, qrows in groups.items():                        # one search per excluded camera, not per query
            sel = None
            if code >= 0:
                bitmap = self._allowed_bitmap(code)
                sel = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bitmap))
            sims[qrows], rows[qrows] = self.faiss_index.search(x[qrows], k, params=params(sel))
        # 1 - cos, clipped to its range [0, 2] (float rounding can give a tiny negative for the probe itself)
        dist = np.where(rows >= 0, np.clip(1.0 - sims, 0.0, 2.0), np.inf).astype(np.float32)
        return dist, rows

    def _flat_vectors(self) -> np.ndarray | None:
        """(N, D) zero-copy view of an exact (IndexFlat) index's vectors, else None."""
        if self._flat_view is None:
            faiss = _faiss()
            flat = faiss.downcast_index(self.faiss_index)
            if not isinstance(flat, faiss.IndexFlat) or flat.ntotal == 0:
                return None
            self._flat_view = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)
        return self._flat_view

    def _search_flat(self, x: np.ndarray, k: int, exclude_cameras) -> tuple[np.ndarray, np.ndarray]:
        """Exact search as BLAS matrix products over the gallery, blocks of queries at a time, then one argpartition
        per query row. FAISS scans a flat index with one thread per query (one core for a single probe) and was
        3x slower than this for 64 probes on 200 k x 1024 here; the product uses every core."""
        vectors = self._flat_vectors()
        groups = self._camera_groups(exclude_cameras, len(x))
        excluded = {code: np.flatnonzero(self.table.camera_codes == code) for code in groups if code >= 0}
        query_code = np.full(len(x), -1, np.int64)
        for code, qrows in groups.items():
            query_code[qrows] = code
        dist = np.empty((len(x), k), np.float32)
        rows = np.empty((len(x), k), np.int64)
        block = max(1, FLAT_BLOCK // len(self))
        for a in range(0, len(x), block):                         # loop over blocks of queries
            b = min(len(x), a + block)
            sims = x[a:b] @ vectors.T                             # (q, N) cosine similarities
            for code, cols in excluded.items():
                sims[np.ix_(np.flatnonzero(query_code[a:b] == code), cols)] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else \
                np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
            top_sims = np.take_along_axis(sims, top, 1)
            order = np.lexsort((top, -top_sims), axis=1)          # best first, ties by row (as FAISS)
            best, r = np.take_along_axis(top_sims, order, 1), np.take_along_axis(top, order, 1)
            rows[a:b] = np.where(np.isfinite(best), r, -1)
            dist[a:b] = np.where(np.isfinite(best), np.clip(1.0 - best, 0.0, 2.0), np.inf)
        return dist, rows

    def _camera_groups(self, exclude_cameras, q: int) -> dict[int, np.ndarray]:
        if exclude_cameras is None:
            return {-1: np.arange(q)}
        if isinstance(exclude_cameras, str):
            exclude_cameras = [exclude_cameras] * q
        if len(exclude_cameras) != q:
            raise ValueError("exclude_cameras needs one camera label (or None) per query")
        labels = {c: i for i, c in enumerate(self.table.camera_labels)}
        # a camera the gallery never saw excludes nothing (code -1); so does None
        codes = np.fromiter((labels.get(c, -1) if c is not None else -1 for c in exclude_cameras), np.int64, q)
        return {int(c): np.flatnonzero(codes == c) for c in np.unique(codes)}

    def _allowed_bitmap(self, code: int) -> np.ndarray:
        """Bit i set <=> tracklet i is not from camera `code` (FAISS IDSelectorBitmap: little-endian bits)."""
        if code not in self._bitmaps:
            self._bitmaps[code] = np.packbits(self.table.camera_codes != code, bitorder="little")
        return self._bitmaps[code]

    def searched_count(self, exclude_camera: str | None = None) -> int:
        """Tracklets a search ranks: all, or all but those of `exclude_camera`."""
        if exclude_camera is None or exclude_camera not in self.table.camera_labels:
            return len(self)
        code = self.table.camera_labels.index(exclude_camera)
        return int(len(self) - np.count_nonzero(self.table.camera_codes == code))

    def calibration(self):
        """The index's `Calibration` (distance -> same-person probability), or None."""
        from .calibration import Calibration
        doc = self.header.get("calibration")
        return Calibration.from_dict(doc) if doc else None

    def set_calibration(self, doc: dict, source: str) -> None:
        """Store a calibration (Calibration.to_dict() of features centred as this index's are) in the header."""
        from .calibration import Calibration
        cal = Calibration.from_dict(doc)
        if cal.centred != bool(self.header.get("centred")):
            raise SearchIndexError(f"{source}: a calibration of {'centred' if cal.centred else 'plain'} features "
                                   f"does not fit a {'centred' if self.header.get('centred') else 'plain'} index")
        self.header["calibration"] = {**cal.to_dict(), "source": source}

    def hits(self, distances: np.ndarray, rows: np.ndarray, searched: int | None = None) -> list[Hit]:
        """One query's (k,) distances and rows -> Hits (padding rows dropped), each with its percentile among the
        `searched` tracklets (default all) and, when the index is calibrated, its same-person probability."""
        t = self.table
        searched = searched or len(self)
        cal = self.calibration()
        probs = cal.predict(distances).tolist() if cal is not None else [None] * len(rows)
        out = []
        for rank, (d, i, p) in enumerate(zip(distances.tolist(), rows.tolist(), probs), 1):   # loop over k results
            if i < 0:
                continue
            out.append(Hit(rank, float(d), t.names[i], t.camera(i), int(i), int(t.pids[i]), t.paths[i],
                           int(t.num_frames[i]), t.thumbnails(i), 100.0 * rank / max(searched, 1),
                           None if p is None else float(p)))
        return out

    def describe(self) -> str:
        h, m = self.header, self.header["model"]
        cams = ", ".join(c or "(none)" for c in self.table.camera_labels[:8])
        more = f" +{len(self.table.camera_labels) - 8}" if len(self.table.camera_labels) > 8 else ""
        lines = [f"index      {self.path}",
                 f"tracklets  {len(self)} (cameras: {cams}{more})",
                 f"vectors    {h['dim']}-d, {h['factory']}" + (f", nprobe {h['nprobe']}" if h.get("nprobe") else "")
                 + (", float16 copies kept for exact re-ranking" if h.get("keep_features") else ""),
                 f"model      {m.get('name')} ({m.get('backbone')}), hash {m['hash'][:12]}, {m.get('checkpoint')}",
                 f"extraction {h['extraction'].get('sampling')} sampling, T={h['extraction'].get('seq_len')}",
                 "distance   1 - cosine similarity" + (" of centred features (gallery mean subtracted)"
                                                         if h.get("centred") else ""),
                 "calibrated " + (f"yes, {h['calibration'].get('pairs')} pairs from {h['calibration'].get('source')}"
                                  if h.get("calibration") else "no (no same-person probabilities: `vidreid eval --checkpoint "
                                  f"{m.get('checkpoint')}` on a labelled dataset writes a calibration.json, then "
                                  "rebuild the index)"),
                 f"updated    {h.get('updated')} (generation {h.get('generation')})"]
        return "\n".join(lines)


def _ivf(index):
    faiss = _faiss()
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def _as_queries(features, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(features, dtype=np.float32))
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise SearchIndexError(f"features of shape {x.shape} do not fit an index of dimension {dim}")
    return x


def _open_npy(path: str, what: str) -> np.ndarray:
    """A .npy file memory-mapped read-only (only the pages used are read), or SearchIndexError naming it."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:                  # missing, truncated or not a .npy
        raise SearchIndexError(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from None


def _read_table(path: str, header: dict) -> tuple[TrackletTable, np.ndarray | None, str]:
    """(table, centre mean or None, where it was read from) of an index folder: version 2 memory-maps one .npy per
    array, version 1 reads its whole .npz."""
    if header["version"] == 1:
        tab_path = os.path.join(path, header["tracklets_file"])
        try:
            with np.load(tab_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:   # truncated or damaged .npz
            raise SearchIndexError(f"{tab_path}: unreadable tracklet table ({type(e).__name__}: {e})") from None
    else:
        files = header["tracklets_files"]
        if not isinstance(files, dict) or not all(isinstance(f, str) for f in files.values()):
            raise SearchIndexError(f"{os.path.join(path, HEADER)}: damaged index header (tracklets_files is not an "
                                   f"object of file names); rebuild the index with `vidreid index build`")
        tab_path = os.path.join(path, next(iter(files.values()), "tracklets"))
        arrays = {k: _open_npy(os.path.join(path, f), "tracklet table") for k, f in files.items()}
    try:
        table = TrackletTable.from_arrays(arrays)
    except (KeyError, ValueError, IndexError, UnicodeDecodeError) as e:
        raise SearchIndexError(f"{tab_path}: unreadable tracklet table ({type(e).__name__}: {e})") from None
    centre_mean = np.asarray(arrays["centre_mean"], np.float32) if "centre_mean" in arrays else None
    return table, centre_mean, tab_path


def _read_generation(path: str) -> int:
    try:
        with open(os.path.join(path, HEADER)) as f:
            return int(json.load(f).get("generation", 0))
    except (OSError, ValueError, json.JSONDecodeError):
        return 0
