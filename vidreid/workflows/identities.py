"""`vidreid associate` as a library: tracklets folders (`vidreid tracklets` outputs) -> global identities, written as
identities.json / identities.csv, MOTChallenge files with global ids per camera and a timeline picture.

Output folder (written under a temporary name, renamed into place when complete):
    OUT/identities.json        every identity and its appearances: camera, first/last frame, start/end time (clock
                               seconds and as the footage manifest spells them), tracklet names and time spans
    OUT/identities.csv         one row per appearance: identity, camera, start, end, frames, tracklets
    OUT/<camera>.global.txt    the tracklets' boxes with global ids (frame, id, x, y, w, h, score, -1, -1, -1)
    OUT/timeline.png           a row per identity, its appearances on the time axis coloured by camera
    OUT/identities.html        one self-contained page (pictures embedded): the timeline, then a card per identity
                               with its appearances (camera, clock times) and a thumbnail of each
    OUT/tracklets.npz          per tracklet its key (tracklets folder, TAB, name), global id and appearance feature
                               before the per-camera centring: what `--update` needs to add tracklets later

Incremental runs (`vidreid associate MORE --out OUT --update`): the tracklets of OUT's folders stay in their
identities (their ids are never renumbered), the new ones join them or become new identities numbered after the
highest id, under the same constraints (a new tracklet never joins an identity it cannot be one person with).
One exception: identities are provisional while some camera of the earlier run had fewer than MIN_FINAL tracklets
(below MIN_CENTRE features are compared uncentred -- a camera's colour cast then outweighs the person -- and above it
the camera's mean, which centring subtracts, still moves with every new tracklet): such an update joins all
tracklets afresh, and each identity keeps the earlier id most of its tracklets had. Past MAX_PROVISIONAL earlier
tracklets the identities are final whatever the cameras hold (a rarely used camera must not make every update a
full re-join).
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import VidReIDError
from ..tracking.associate import AssociateConfig, TrackletTimes, associate, check_transit, graph_pairs
from ..tracking.footage import Footage
from ..tracking.pipeline import CROPS, SIDECAR

MARKER = "identities.json"
MIN_CENTRE = 5           # per-camera centring needs at least this many tracklets in every camera
MIN_FINAL = 20           # ... and identities are final once every camera's mean comes from this many (SE of a mean
                         # ~ spread / sqrt(n): 0.45 of it at 5 tracklets, 0.22 at 20)
MAX_PROVISIONAL = 2000   # earlier tracklets beyond which identities are final anyway (re-joins stay cheap)
STATE = "tracklets.npz"  # the features and ids an incremental run starts from
HTML_THUMBS = 8          # thumbnails per identity on the page (evenly spaced over its appearances)
HTML_PICTURES = 300      # identities shown with thumbnails; the others as text (the page stays a few MB)
KNN_QUERIES = 256        # queries per k-NN search: the flat search's (queries, N) block is ~100 MB at N = 100k


@dataclass
class TrackletSet:
    entries: list[dict]          # the sidecars' tracklet entries (each with "folder": its tracklets output)
    cameras: list[str]           # camera names, index = TrackletTimes.camera
    times: TrackletTimes
    footage: Footage | None      # the shared clock (None: each camera's own frame times)


def load_tracklet_sets(folders: list[str]) -> TrackletSet:
    """One or more `vidreid tracklets` outputs -> their tracklets, cameras and times. With footage manifests in
    every sidecar, times are on the shared clock and the transit times are the union of the manifests'."""
    entries, fps, footages, twice = [], {}, [], []
    for folder in dict.fromkeys(os.path.abspath(f) for f in folders):   # loop over tracklets outputs (once each)
        path = os.path.join(folder, SIDECAR)
        if not os.path.isfile(path):
            raise VidReIDError(f"{folder}: not a `vidreid tracklets` output (no {SIDECAR})")
        try:
            side = json.load(open(path))
        except json.JSONDecodeError as e:
            raise VidReIDError(f"{path}: not valid JSON ({e})") from None
        for v in side.get("videos", []):
            if v["camera"] in fps:
                twice.append((folder, v["camera"]))
            fps[v["camera"]] = v.get("fps") or 0.0
        footages.append(side.get("footage"))
        entries += [dict(e, folder=os.path.abspath(folder)) for e in side.get("tracklets", [])]
    if not entries:
        raise VidReIDError(f"no tracklets in {', '.join(folders)}: nothing to associate")
    cameras = sorted({e["camera"] for e in entries})
    shared = all(f is not None for f in footages)
    if twice and not shared:                                            # frame times of two videos: not comparable
        raise VidReIDError(f"{twice[0][0]}: camera {twice[0][1]!r} is also in another tracklets folder (one camera "
                           f"in several folders needs footage manifests: a shared clock)")
    footage = None
    if shared:
        footage = Footage.from_dict(footages[0])
        for f in footages[1:]:
            more = Footage.from_dict(f)
            if more.clock != footage.clock:
                raise VidReIDError(f"the tracklets folders' footage clocks differ ({footage.clock}, {more.clock})")
            footage.videos += more.videos
            footage.transit.update(more.transit)
            footage.default_transit = max(footage.default_transit, more.default_transit)
        start = np.array([e["start_time"] for e in entries], np.float64)
        end = np.array([e["end_time"] for e in entries], np.float64)
    else:                                                               # each camera's own clock: frame / fps
        rate = np.array([fps.get(e["camera"]) or 1.0 for e in entries])
        start = (np.array([e["frames"][0] for e in entries]) - 1) / rate
        end = (np.array([e["frames"][-1] for e in entries]) - 1) / rate
    cam = np.array([cameras.index(e["camera"]) for e in entries])
    return TrackletSet(entries, cameras, TrackletTimes(cam, start, end, shared), footage)


def default_threshold(checkpoint: str | None) -> float:
    """The clustering threshold (1 - cos) without --threshold: what benchmarks/mtmc.py chose on its validation
    scenes (SynthPed itinerary seeds 2, 4, 5; BENCHMARKS.md "Multi-camera tracking"): 0.6 for the colour
    histograms (the choice on noisy boxes, which stand for a real detector's; on oracle boxes it was 0.4), 0.4 for the
    recommended checkpoint (both box kinds). Another checkpoint's distances may be scaled otherwise."""
    return 0.4 if checkpoint else 0.6


def tracklet_features(ts: TrackletSet, checkpoint: str | None = None, progress: bool = False,
                      centre_cameras: bool = True) -> np.ndarray:
    """(N, D) L2-normalised appearance features: the checkpoint's (FeatureExtractor) or, without one,
    centre_colour_features. centre_cameras: when every camera has >= MIN_CENTRE tracklets, subtract each camera's
    mean feature first (its colour cast, light and
    the background its tracklets share; on itinerary scenes this splits same-person cross-camera pairs, median
    1 - cos 0.41, from different-person pairs, 5th percentile 0.6)."""
    from ..data.types import Tracklet
    from ..search.extractor import l2_normalize
    paths = [[crop_path(e, f) for f in e["frames"]] for e in ts.entries]
    missing = next((p[0] for p in paths if not os.path.isfile(p[0])), None)
    if missing:
        raise VidReIDError(f"{missing}: crop missing (was the tracklets folder moved or cleaned?)")
    if checkpoint:
        from ..search.extractor import FeatureExtractor
        tracklets = [Tracklet(tuple(p), -1, int(c)) for p, c in zip(paths, ts.times.camera)]
        f = FeatureExtractor(checkpoint, workers=0).embed_tracklets(tracklets, progress, "associate")
    else:
        f = np.stack([centre_colour_features(p) for p in paths])
    return centre_by_camera(f, ts.times.camera) if centre_cameras else l2_normalize(f).astype(np.float32)


def centre_by_camera(f: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """(N, D) features -> each camera's mean subtracted (when every camera has >= MIN_CENTRE tracklets: a mean of a
    few tracklets is those people), L2-normalised, float32."""
    from ..search.extractor import l2_normalize
    f = np.asarray(f, np.float64).copy()
    if can_centre(camera):
        for k in np.unique(camera):                                      # loop over cameras
            f[camera == k] -= f[camera == k].mean(0)
    return l2_normalize(f).astype(np.float32)


def crop_path(entry: dict, frame: int) -> str:
    """The crop of a tracklet (a sidecar entry) at a frame number."""
    return os.path.join(entry["folder"], CROPS, entry["name"], f"f{frame:06d}.jpg")


def centre_colour_features(paths: list[str], frames: int = 8, width: float = 0.25) -> np.ndarray:
    """A tracklet's appearance without a model: RGB histograms (8 bins a channel) of 6 horizontal stripes of the
    central `width` of its crops (the person; the sides are mostly background), square-rooted (Hellinger) and
    averaged over `frames` frames spread along it (vidreid.models.classical.colour.stripe_histograms)."""
    import cv2
    from ..models.classical.colour import stripe_histograms
    picks = np.unique(np.linspace(0, len(paths) - 1, min(frames, len(paths))).round().astype(int))
    imgs = []
    for i in picks.tolist():                                            # <= `frames` crops
        img = cv2.imread(paths[i])
        if img is None:
            raise VidReIDError(f"{paths[i]}: not a readable image")
        imgs.append(cv2.resize(img, (64, 128), interpolation=cv2.INTER_AREA)[..., ::-1])
    a = int(64 * (0.5 - width / 2))
    crops = np.ascontiguousarray(np.stack(imgs)[:, 8:120, a:64 - a])     # (n, 112, w, 3) RGB: head to feet, centre
    h = np.sqrt(stripe_histograms(crops, ("rgb",), 6, 8)).mean(0)
    return h / max(np.linalg.norm(h), 1e-12)


def neighbour_pairs(feats: np.ndarray, k: int, queries: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """The pairs (i, j), i < j, of the k-nearest-neighbour graph of L2-normalised features (N, D) by 1 - cos, from an
    exact FAISS gallery index (vidreid.search.index.GalleryIndex, "flat": BLAS products over blocks of KNN_QUERIES
    queries, O(N^2 D) time, O(KNN_QUERIES N + N k) memory). queries: the items whose neighbours are searched (an
    incremental run: the new tracklets; None: all). None when k >= N - 1: every pair is a neighbour, the clustering
    is exact on all pairs."""
    n = len(feats)
    if k >= n - 1:
        return None
    from ..search.index import GalleryIndex
    index = GalleryIndex.create(feats.shape[1], {"hash": "associate"}, {}, kind="flat")
    blank = [""] * n
    index.add(feats, blank, blank, np.full(n, -1), blank, [()] * n, "associate")
    queries = np.arange(n) if queries is None else np.asarray(queries, np.int64)
    rows = np.empty((len(queries), k + 1), np.int64)                    # + 1: each tracklet finds itself
    for a in range(0, len(queries), KNN_QUERIES):                       # blocks of queries: bounded memory
        rows[a:a + KNN_QUERIES] = index.search(feats[queries[a:a + KNN_QUERIES]], k + 1)[1]
    return graph_pairs(rows, queries)


def transit_of(ts: TrackletSet) -> np.ndarray | None:
    if ts.footage is None:
        return None
    t = ts.footage.transit_matrix(ts.cameras)
    check_transit(t, ts.cameras)
    return t


def appearances(ts: TrackletSet, ids: np.ndarray) -> list[dict]:
    """Identities (their global ids `ids` (N,), join_identities) with their appearances, in id order: runs of
    tracklets of one camera in time order (a new appearance whenever the person shows up in another camera in
    between)."""
    t = ts.times
    out = []
    order = np.lexsort((t.start, ids))                                  # by identity, then time
    gids, counts = np.unique(ids, return_counts=True)
    for gid, idx in zip(gids.tolist(), np.split(order, np.cumsum(counts)[:-1])):   # loop over identities
        apps = []
        for i in idx.tolist():                                          # its tracklets in time order
            e = ts.entries[i]
            if apps and apps[-1]["camera"] == e["camera"]:
                a = apps[-1]
                a["last_frame"], a["end"] = max(a["last_frame"], e["frames"][-1]), max(a["end"], float(t.end[i]))
                a["tracklets"].append(e["name"])
                a["spans"].append([float(t.start[i]), float(t.end[i])])
            else:
                apps.append({"camera": e["camera"], "first_frame": e["frames"][0], "last_frame": e["frames"][-1],
                             "start": float(t.start[i]), "end": float(t.end[i]), "tracklets": [e["name"]],
                             "spans": [[float(t.start[i]), float(t.end[i])]],
                             "thumbnail": crop_path(e, e["frames"][len(e["frames"]) // 2])})
        for a in apps:
            a["start_clock"], a["end_clock"] = _clock(ts, a["start"]), _clock(ts, a["end"])
        out.append({"id": int(gid), "tracklet_ids": idx.tolist(), "appearances": apps})
    return out


def _clock(ts: TrackletSet, seconds: float) -> str:
    return ts.footage.format(seconds) if ts.footage else f"{seconds:.1f}s"


def global_ids(people: list[dict], n: int) -> np.ndarray:
    """(N,) the 1-based global id of each tracklet."""
    gid = np.zeros(n, np.int64)
    for p in people:
        gid[p["tracklet_ids"]] = p["id"]
    return gid


def mot_rows(ts: TrackletSet, gid: np.ndarray, camera: str) -> np.ndarray:
    """(K, 7) [frame, global id, x, y, w, h, score] of one camera's tracklet boxes."""
    rows = [np.column_stack([e["frames"], np.full(len(e["frames"]), g), np.asarray(e["boxes"]).reshape(-1, 4),
                             e.get("scores") or np.ones(len(e["frames"]))])
            for e, g in zip(ts.entries, gid.tolist()) if e["camera"] == camera]
    rows = np.concatenate(rows) if rows else np.zeros((0, 7))
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def describe(person: dict) -> str:
    """"person 12: gate 10:02:05, hall 10:05:40" (each appearance's camera and start)."""
    return f"person {person['id']}: " + ", ".join(f"{a['camera']} {a['start_clock']}" for a in person["appearances"])


def write_identities(out: str, ts: TrackletSet, people: list[dict], cfg: AssociateConfig, features: str,
                     force: bool = False, raw: np.ndarray | None = None) -> dict:
    """The output folder of the module docstring -> the identities document. raw: (N, D) the features before the
    per-camera centring, kept in STATE for incremental runs (None: no STATE)."""
    from ..utils.io import atomic_folder, atomic_write_text
    from ..tracking.draw import write_png
    gid = global_ids(people, len(ts.entries))
    doc = {"format": "vidreid-identities/1", "config": asdict(cfg), "features": features,
           "shared_clock": ts.times.shared_clock, "cameras": ts.cameras,
           "tracklet_folders": sorted({e["folder"] for e in ts.entries}), "tracklets": len(ts.entries),
           "identities": [{"id": p["id"], "appearances": p["appearances"]} for p in people]}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["identity", "camera", "start", "end", "first_frame", "last_frame", "tracklets"])
    for p in people:
        for a in p["appearances"]:
            w.writerow([p["id"], a["camera"], a["start_clock"], a["end_clock"], a["first_frame"], a["last_frame"],
                        " ".join(a["tracklets"])])
    with atomic_folder(out, force, MARKER, "`vidreid associate`") as tmp:
        for cam in ts.cameras:                                          # loop over cameras
            rows = mot_rows(ts, gid, cam)
            atomic_write_text(os.path.join(tmp, f"{cam}.global.txt"), "".join(
                f"{int(f)},{int(i)},{x:.2f},{y:.2f},{bw:.2f},{bh:.2f},{s:.4f},-1,-1,-1\n"
                for f, i, x, y, bw, bh, s in rows.tolist()))
        atomic_write_text(os.path.join(tmp, "identities.csv"), buf.getvalue())
        picture = timeline(people, ts.cameras, ts.times.shared_clock)
        write_png(os.path.join(tmp, "timeline.png"), picture)
        atomic_write_text(os.path.join(tmp, "identities.html"), identities_html(people, ts, picture))
        if raw is not None:
            np.savez(os.path.join(tmp, STATE), keys=np.array(tracklet_keys(ts)), ids=gid,
                     features=np.asarray(raw, np.float32))
        atomic_write_text(os.path.join(tmp, MARKER), json.dumps(doc, indent=1))
    return doc


def tracklet_keys(ts: TrackletSet) -> list[str]:
    """Each tracklet's key in STATE: its tracklets folder and name."""
    return [f"{e['folder']}\t{e['name']}" for e in ts.entries]


def timeline(people: list[dict], cameras: list[str], shared_clock: bool, max_rows: int = 60) -> np.ndarray:
    """A BGR picture: a row per identity (the first `max_rows` by first appearance), a bar per tracklet on the
    time axis and a line over each appearance, coloured by camera, with a legend."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = people[:max_rows]
    colours = camera_colours(len(cameras))
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.22 * len(shown)), dpi=100)
    for r, p in enumerate(shown):                                       # loop over identities (<= max_rows)
        for a in p["appearances"]:                                      # a thin line over the appearance, a bar
            k = cameras.index(a["camera"])                              # per tracklet (gaps stay visible)
            ax.plot([a["start"], a["end"]], [r, r], color=colours[k], lw=1)
            for s0, s1 in a["spans"]:
                ax.barh(r, max(s1 - s0, 0.3), left=s0, height=0.7, color=colours[k])
    ax.set_yticks(range(len(shown)), [f"person {p['id']}" for p in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("clock (s)" if shared_clock else "seconds from each video's start (no shared clock)")
    title = f"{len(people)} identities" + (f" (first {max_rows} shown)" if len(people) > max_rows else "")
    ax.set_title(title, fontsize=9)
    ax.legend(handles=[matplotlib.patches.Patch(color=colours[k], label=c) for k, c in enumerate(cameras)],
              fontsize=7, loc="upper right", ncol=min(len(cameras), 6))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3][..., ::-1].copy()      # (H, W, 3) BGR
    plt.close(fig)
    return img


def join_identities(raw: np.ndarray, times: TrackletTimes, cfg: AssociateConfig, transit: np.ndarray | None = None,
                    old_ids: np.ndarray | None = None, centre: bool = True) -> np.ndarray:
    """Raw features (N, D) (tracklet_features without centring; centre=False: features already as they should be
    compared) and times -> the 1-based global id (N,) of each tracklet. old_ids: the ids of the first len(old_ids)
    tracklets (an incremental run): they stay in their identities, which never merge with each other, and only the
    new tracklets' neighbours are searched; the new identities are numbered after the highest old id in order of
    first appearance (a batch run: 1, 2, ...)."""
    n_old = 0 if old_ids is None else len(old_ids)
    if n_old and centre and not settled(times.camera[:n_old]):
        # the earlier run clustered uncentred features (a camera had < MIN_CENTRE tracklets: two people in one
        # camera look closer than one person in two) or centred them with camera means of a few tracklets: its
        # identities were provisional. Join everything afresh and give each new identity the old id most of it had.
        return keep_old_ids(join_identities(raw, times, cfg, transit), old_ids)
    feats = centre_by_camera(raw, times.camera) if centre else np.asarray(raw, np.float32)
    labels = np.arange(len(raw))
    fixed = np.zeros(len(raw), bool)
    if n_old:
        labels[:n_old] = np.unique(old_ids, return_inverse=True)[1].reshape(-1) - len(raw)   # < 0: old identities
        fixed[:n_old] = True
    pairs = neighbour_pairs(feats, cfg.neighbours, np.arange(n_old, len(raw)) if n_old else None)
    cluster = associate(feats, times, cfg, transit, pairs, labels, fixed)
    k = int(cluster.max()) + 1
    gid = np.zeros(k, np.int64)
    if n_old:
        gid[cluster[:n_old]] = old_ids                                   # one old identity per cluster (fixed)
    first = np.full(k, np.inf)
    np.minimum.at(first, cluster, times.start)
    new = np.flatnonzero(gid == 0)
    new = new[np.lexsort((new, first[new]))]                             # by first appearance
    gid[new] = (0 if not n_old else int(np.max(old_ids))) + 1 + np.arange(len(new))
    return gid[cluster]


def keep_old_ids(gid: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """Batch ids (N,) of every tracklet, the first len(old_ids) with an earlier run's ids -> the same partition
    with each earlier id kept by the new identity sharing most tracklets with it (greedily, largest overlaps first;
    each id used once); the other identities are numbered after the highest earlier id by first appearance."""
    n_old = len(old_ids)
    pairs, counts = np.unique(np.stack([gid[:n_old], old_ids]), axis=1, return_counts=True)   # (2, P), (P,)
    new_of = np.zeros(int(gid.max()) + 1, np.int64)                     # batch id -> kept id (0: none yet)
    used = set()
    for k in np.argsort(-counts, kind="stable").tolist():                # loop over overlapping (new, old) pairs
        g, o = pairs[:, k].tolist()
        if not new_of[g] and o not in used:
            new_of[g] = o
            used.add(o)
    rest = np.flatnonzero(new_of == 0)[1:]        # batch ids are 1-based (slot 0 unused) and in first-appearance order
    new_of[rest] = int(np.max(old_ids)) + 1 + np.arange(len(rest))
    return new_of[gid]


def can_centre(camera: np.ndarray) -> bool:
    """Does centre_by_camera subtract camera means for tracklets of these cameras (each has >= MIN_CENTRE)?"""
    counts = np.bincount(camera)[np.unique(camera)]
    return bool(len(counts)) and counts.min() >= MIN_CENTRE


def settled(camera: np.ndarray) -> bool:
    """Are identities made from tracklets of these cameras final (module docstring: MIN_FINAL, MAX_PROVISIONAL)?"""
    counts = np.bincount(camera)[np.unique(camera)]
    return len(camera) >= MAX_PROVISIONAL or bool(len(counts)) and counts.min() >= MIN_FINAL


def read_identities(out: str, features: str) -> dict:
    """The identities document of an earlier output OUT to update, made with the same `features`."""
    path = os.path.join(out, MARKER)
    if not os.path.isfile(path):
        raise VidReIDError(f"{out}: not a `vidreid associate` output (no {MARKER}) to update")
    doc = json.load(open(path))
    if doc.get("features") != features:
        raise VidReIDError(f"{path}: made with features {doc.get('features')!r}, not {features!r} (give the same "
                           f"--checkpoint)")
    return doc


def load_state(out: str, ts: TrackletSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An earlier associate output OUT and the tracklets now loaded -> (rows of ts that OUT holds, their ids, their
    raw features), in STATE's order."""
    state_path = os.path.join(out, STATE)
    if not os.path.isfile(state_path):
        raise VidReIDError(f"{state_path}: missing (an output of an older vidreid cannot be updated; rerun it)")
    with np.load(state_path, allow_pickle=False) as z:
        keys, ids, raw = z["keys"].tolist(), z["ids"], z["features"]
    row = {k: i for i, k in enumerate(tracklet_keys(ts))}
    gone = next((k for k in keys if k not in row), None)
    if gone is not None:
        raise VidReIDError(f"{out}: its tracklet {gone.replace(chr(9), '/')} is no longer in its tracklets folder")
    return np.array([row[k] for k in keys], np.int64), ids, raw


def camera_colours(n: int) -> np.ndarray:
    """(n, 4) RGBA in [0, 1]: camera k's colour on the timeline and the page (matplotlib's tab10, cycled)."""
    import matplotlib
    return matplotlib.colormaps["tab10"](np.arange(n) % 10)


def identities_html(people: list[dict], ts: TrackletSet, picture: np.ndarray) -> str:
    """The page of the module docstring: `picture` (the timeline, BGR) embedded as a PNG, then a card per identity
    (heading: its appearances, camera names in their timeline colours; a strip of up to HTML_THUMBS thumbnails, one
    per appearance, for the first HTML_PICTURES identities)."""
    import html

    import cv2
    from ..search.html import card, data_uri, page, read_frames
    hexes = ["#%02x%02x%02x" % tuple((c[:3] * 255).round().astype(int).tolist()) for c in camera_colours(
        len(ts.cameras))]
    colour = dict(zip(ts.cameras, hexes))
    cards = []
    for k, p in enumerate(people):                                      # loop over identities
        apps = p["appearances"]
        head = f"<b>person {p['id']}</b> &middot; " + ", ".join(
            f'<span style="color:{colour[a["camera"]]}"><b>{html.escape(a["camera"])}</b></span> '
            f'{html.escape(a["start_clock"])}&ndash;{html.escape(a["end_clock"])}' for a in apps)
        if k >= HTML_PICTURES:
            cards.append(f'<div class="card person"><div class="meta">{head}</div></div>')
            continue
        shown = [apps[i] for i in np.unique(np.linspace(0, len(apps) - 1, min(HTML_THUMBS, len(apps))).round()
                                            .astype(int)).tolist()]
        frames, _ = read_frames([a["thumbnail"] for a in shown], (128, 64))
        tips = [f"{a['camera']} {a['start_clock']} ({len(a['tracklets'])} tracklets)" for a in shown]
        cards.append(card("person", head, frames, (None, tips), f"person {p['id']}"))
    ok, png = cv2.imencode(".png", picture)
    more = (f" (thumbnails for the first {HTML_PICTURES}; identities.json has them all)"
            if len(people) > HTML_PICTURES else "")
    body = (f"<p>{len(people)} identities from {len(ts.entries)} tracklets of {len(ts.cameras)} cameras"
            + ("" if ts.times.shared_clock else " (no shared clock: times are seconds from each video's start)")
            + f"{more}</p>\n<img class=\"timeline\" src=\"{data_uri(png.tobytes(), 'image/png')}\" alt=\"timeline\">"
            + "\n<h2>Identities</h2>\n<div class=\"results\">\n" + "\n".join(cards) + "\n</div>")
    style = ".person { border-color: #888888; }\n.timeline { max-width: 100%; }\n"
    return page("vidreid associate: who went where", body, style)


def run_associate(folders: list[str], out: str, cfg: AssociateConfig, checkpoint: str | None = None,
                  force: bool = False, progress: bool = False, update: bool = False) -> dict:
    """Tracklets folders -> OUT (module docstring); returns the identities document. update: OUT is an earlier
    output; its tracklets keep their ids and the tracklets of `folders` not in it join them."""
    features = checkpoint or "centre colour histograms, camera-centred"
    old_rows, old_ids, old_raw = np.zeros(0, np.int64), None, None
    if update:
        folders = read_identities(out, features)["tracklet_folders"] + list(folders)
    else:
        from ..utils.io import check_replaceable_folder
        check_replaceable_folder(out, force, MARKER, "`vidreid associate`")    # refused now, not after the features
    ts = load_tracklet_sets(folders)
    if update:
        old_rows, old_ids, old_raw = load_state(out, ts)
    new_rows = np.setdiff1d(np.arange(len(ts.entries)), old_rows)
    if update and not len(new_rows):
        raise VidReIDError(f"no new tracklets in {', '.join(folders)}: {out} already holds them all")
    order = np.concatenate([old_rows, new_rows])                         # old tracklets first
    ts = TrackletSet([ts.entries[i] for i in order.tolist()], ts.cameras, ts.times.take(order), ts.footage)
    n_old = len(old_rows)
    new_raw = tracklet_features(TrackletSet(ts.entries[n_old:], ts.cameras, ts.times.take(np.arange(n_old, len(order))),
                                            ts.footage), checkpoint, progress, centre_cameras=False)
    raw = new_raw if old_raw is None else np.concatenate([old_raw, new_raw])
    ids = join_identities(raw, ts.times, cfg, transit_of(ts), old_ids)
    return write_identities(out, ts, appearances(ts, ids), cfg, features, force or update, raw)


__all__ = ["TrackletSet", "appearances", "camera_colours", "centre_by_camera", "crop_path", "describe", "global_ids",
           "identities_html", "join_identities", "load_state", "load_tracklet_sets", "mot_rows", "neighbour_pairs",
           "read_identities", "run_associate", "tracklet_features", "write_identities"]
