"""`vidreid index build|add|info`: embed a gallery of tracklets into a FAISS index folder (docs/search.md)."""

from ..options import add_fuse_arguments, add_overwrite_argument, add_progress_argument

HELP = "build, extend or describe a gallery index for `vidreid search`"


def _gallery_arguments(p, split_default_note: str) -> None:
    p.add_argument("--gallery", help="a folder of tracklet folders (one folder of frames per tracklet) or a "
                                     "manifest (.jsonl/.csv, see docs/datasets)")
    p.add_argument("--dataset", help="a registered dataset name instead (mars, dukev, lsvid, manifest ...); "
                                     "needs --root")
    p.add_argument("--root", help="the dataset's root folder (with --dataset)")
    p.add_argument("--split", choices=["gallery", "query", "train", "all"],
                   help=f"which tracklets of a dataset / manifest ({split_default_note})")
    p.add_argument("--pattern", help="regular expression read from each tracklet folder's path relative to "
                                     "--gallery, named groups camera, tracklet, pid (default: "
                                     "<camera>/<tracklet>, i.e. ROOT/cam1/track001/)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    p.add_argument("--workers", type=int, help="frame-loading processes (default: the checkpoint's data.workers)")
    p.add_argument("--batch-size", type=int, help="clips per forward pass (default: the checkpoint's)")
    add_progress_argument(p, "no progress bar")


def add_arguments(p):
    sub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="embed every tracklet of a gallery into a new index",
                       description="Embed every tracklet of a gallery with a checkpoint and store a FAISS index "
                                   "(+ tracklet metadata and the model hash) in the folder --out.")
    b.add_argument("--checkpoint", required=True, help="a .safetensors checkpoint written by vidreid train, or "
                                                       "'none' for --config's model as initialised (ImageNet; for "
                                                       "a classical --config: its fitted metric)")
    b.add_argument("--config", help="with --checkpoint none: the config whose model to use untrained")
    b.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (with --config)")
    b.add_argument("--out", required=True, help="the index folder to write (an existing index there is replaced, "
                                                "atomically, only with --overwrite)")
    add_overwrite_argument(b, "replace the index already in --out")
    add_fuse_arguments(b, "index")
    _gallery_arguments(b, "default: gallery for datasets, all for manifests")
    b.add_argument("--index-type", choices=["flat", "ivf", "ivfpq", "ivfhnswpq"], default="flat",
                   help="flat: exact (default); ivf: inverted lists; ivfpq: + product quantisation (millions); "
                        "ivfhnswpq: ivfpq with an HNSW coarse quantiser (tens of millions, 64k+ lists)")
    b.add_argument("--factory", help="any FAISS index_factory string instead (inner-product metric)")
    b.add_argument("--nlist", type=int, help="IVF lists (default ~4 sqrt(N))")
    b.add_argument("--nprobe", type=int, help="IVF lists visited per search (default max(8, nlist/16))")
    b.add_argument("--pq-m", type=int, help="PQ sub-quantisers (default D/16; must divide D)")
    b.add_argument("--pq-bits", type=int, default=8, help="bits per PQ code (default 8)")
    b.add_argument("--opq", action="store_true", help="rotate vectors (OPQ) before product quantisation: lower PQ "
                                                      "error (ivfpq / ivfhnswpq only)")
    b.add_argument("--keep-features", action="store_true",
                   help="also store every feature as float16 (2 bytes x D per tracklet, on disk) for `vidreid "
                        "search --exact-rerank`")
    b.add_argument("--center", choices=["auto", "on", "off"], default="auto",
                   help="subtract the gallery's mean feature before comparing (spreads the distances; auto: on for "
                        "the models where it did not lower mAP, docs/search.md)")
    b.add_argument("--calibration", default="auto", metavar="FILE",
                   help="calibration.json from `vidreid eval` for same-person probabilities (default auto: the "
                        "newest of this checkpoint's run, <run dir>/eval/*/calibration.json; none: no probabilities)")
    b.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: embed in this process (default); ray: model actors embed shards of the gallery, "
                        "resumable (`pip install 'vidreid[ray]'`; docs/search.md, \"Many videos on Ray\")")
    b.add_argument("--address", help="--engine ray: a running Ray cluster's address (e.g. auto); default: a local Ray")
    b.add_argument("--actors", type=int, help="--engine ray: model actors (default: every CPU, or GPU with "
                                              "--device cuda, that Ray has)")
    b.add_argument("--retries", type=int, default=2, help="--engine ray: tries again a failed shard (default 2)")
    b.set_defaults(index_run=_build)

    a = sub.add_parser("add", help="append tracklets to an index without rebuilding it",
                       description="Embed more tracklets and append them to an existing index; refused when the "
                                   "checkpoint is not the one the index was built with.")
    a.add_argument("--index", required=True, help="the index folder")
    a.add_argument("--checkpoint", help="the checkpoint (default: the one recorded in the index)")
    _gallery_arguments(a, "default: gallery for datasets, all for manifests")
    a.set_defaults(index_run=_add)

    i = sub.add_parser("info", help="describe an index")
    i.add_argument("--index", required=True, help="the index folder")
    i.add_argument("--json", action="store_true", help="print the index header as JSON")
    i.set_defaults(index_run=_info)


def _extractor_kwargs(args) -> dict:
    return {"device": args.device, "workers": args.workers, "batch_size": args.batch_size,
            "progress": not args.no_progress}


def _build(args) -> int:
    import os
    import time

    from ..errors import OutputError
    from ..search.index import HEADER
    from ..utils.io import LOCK_NAME, check_writable_folder
    from ..validate import require_option
    require_option(args.fuse_weight != "auto", "--fuse-weight", "--fuse", args.fuse)
    if args.engine == "ray":
        from ..workflows.ray_index import check_ray_options
        check_ray_options(args)                                         # before any work
    t0 = time.time()
    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"--out {out} is a file; an index is a folder")
    if os.path.isfile(os.path.join(out, HEADER)) and not args.overwrite:
        raise OutputError(f"--out {out} already holds an index; not replacing it (pass --overwrite to rebuild it, "
                          f"`vidreid index add --index {out}` to extend it, or choose another folder)")
    if os.path.isdir(out) and set(os.listdir(out)) - {LOCK_NAME, HEADER} and not os.path.isfile(os.path.join(out, HEADER)):
        raise OutputError(f"--out {out} is a folder of other files, not a vidreid index: not writing into it")
    created = not os.path.exists(out)
    check_writable_folder(out, f"--out {out}")
    try:
        gi = _build_locked(args, out)
    except BaseException:
        if created and os.path.isdir(out) and not os.listdir(out):   # a refused build leaves nothing behind
            os.rmdir(out)
        raise
    print(gi.describe())
    print(f"built in {time.time() - t0:.1f} s")
    return 0


def _build_locked(args, out: str):
    from ..search.searcher import Searcher
    from ..utils.io import RunLock
    with RunLock(out, "index folder"):
        from ..inference.resolve import resolve_checkpoint
        args.checkpoint = resolve_checkpoint(args.checkpoint, args.config, args.overrides, fuse=args.fuse,
                                             fuse_weight=args.fuse_weight, classes_from_dataset=False,
                                             device=args.device, progress=not args.no_progress, command="index")
        s = Searcher(args.checkpoint, **_extractor_kwargs(args))
        embed = None
        if args.engine == "ray":
            from ..workflows.ray_index import ray_embedding
            embed = ray_embedding(args, out, s.extractor)
        gi = s.index(args.gallery, out, dataset=args.dataset, root=args.root, split=args.split,
                     pattern=args.pattern, kind=args.index_type, factory=args.factory, nlist=args.nlist,
                     pq_m=args.pq_m, nbits=args.pq_bits, nprobe=args.nprobe,
                     centre={"auto": "auto", "on": True, "off": False}[args.center], calibration=args.calibration,
                     embed_chunks=embed, opq=args.opq, keep_features=args.keep_features)
        if embed is not None:
            embed.cleanup()                                             # the index is saved: the shards are in it
    return gi


def _add(args) -> int:
    import time

    from ..search.index import GalleryIndex
    from ..search.searcher import Searcher
    from ..utils.io import RunLock
    t0 = time.time()
    gi = GalleryIndex.load(args.index)                            # a missing or damaged index: one line, no lock file
    with RunLock(args.index, "index folder"):                     # one writer: two `add`s would lose one's tracklets
        gi = GalleryIndex.load(args.index)                        # re-read under the lock
        checkpoint = args.checkpoint or gi.header["model"].get("checkpoint")
        s = Searcher(checkpoint, index=gi, **_extractor_kwargs(args))
        before = len(gi)
        n = s.add(args.gallery, dataset=args.dataset, root=args.root, split=args.split, pattern=args.pattern)
    print(f"added {n} tracklets to {gi.path}: {before} -> {len(gi)} ({time.time() - t0:.1f} s)")
    return 0


def _info(args) -> int:
    import json

    from ..search.index import GalleryIndex
    gi = GalleryIndex.load(args.index)
    print(json.dumps(gi.header, indent=1) if args.json else gi.describe())
    return 0


def run(args) -> int:
    return args.index_run(args)
