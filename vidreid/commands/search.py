"""`vidreid search`: where else was this person seen? Rank an index's tracklets by distance to a probe video."""
from ..options import add_overwrite_argument

HELP = "search a gallery index with a probe (a folder of frames or a video file)"


def add_arguments(p):
    p.add_argument("--index", required=True, help="an index folder written by `vidreid index build`")
    p.add_argument("--probe", required=True, help="a folder of frames, a video file (one tracklet), or an image")
    p.add_argument("--checkpoint", help="the checkpoint (default: the one recorded in the index; must match its "
                                        "model hash)")
    p.add_argument("--top", type=int, default=20, help="results to list (default 20)")
    p.add_argument("--exclude-same-camera", action="store_true",
                   help="skip gallery tracklets from the probe's camera (--camera, or read from the probe's path "
                        "with the index's folder pattern)")
    p.add_argument("--camera", help="the probe's camera label, as the index names cameras (see `vidreid index info`)")
    p.add_argument("--box", help="crop every probe frame to x,y,w,h (pixels) first, e.g. --box 410,120,90,230")
    p.add_argument("--frame", type=int, help="follow the person in --box from this frame (1-based) forwards and "
                                             "backwards through the probe video, instead of one fixed box")
    p.add_argument("--track", help="with --probe a `vidreid tracklets` folder: search with this track (7, t0007, "
                                   "CAMERA/t0007)")
    p.add_argument("--detector", default="hog", help="following: hog | onnx:PATH (default hog)")
    p.add_argument("--detections", metavar="DET_TXT", help="following: the probe video's MOTChallenge det.txt")
    p.add_argument("--upscale", type=float, default=1.0, help="following with hog: frame scale before detecting")
    p.add_argument("--every", type=int, default=1, help="following: every N-th frame (default 1)")
    p.add_argument("--follow-frames", type=int, help="following: at most this many frames on each side of --frame")
    p.add_argument("--nprobe", type=int, help="IVF lists to visit (default: the index's)")
    p.add_argument("--exact-rerank", type=int, metavar="N",
                   help="re-score N approximate candidates with the index's stored features and keep the best --top "
                        "(exact distances for a PQ index; needs `index build --keep-features`)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (for programs)")
    p.add_argument("--html", metavar="OUT", help="also write an HTML page of the probe and the results (an existing "
                                                 "file is replaced only with --overwrite)")
    add_overwrite_argument(p, "replace an existing --html file")
    p.add_argument("--strip", type=int, default=8, help="frames per tracklet on the HTML page (default 8)")
    p.add_argument("--no-attention", action="store_true", help="no attention overlays on the HTML page")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")


def format_hits(result, index) -> str:
    """The ranked list as a fixed-width table."""
    from ..search.index import format_percentile
    from ..search.probe import describe_followed
    p = result.probe
    lines = [f"probe   {p.source} ({p.kind}, {p.num_frames} frames"
             + (f", camera {result.camera}" if result.camera else "") + (f", box {p.box}" if p.box else "") + ")",
             *([describe_followed(p.followed)] if p.followed else []),
             f"index   {index.path} ({len(index)} tracklets, {index.header['model'].get('name')}, "
             f"distance = 1 - cos" + (" of centred features" if result.centred else "")
             + (", same camera excluded" if result.exclude_same_camera else "") + ")"]
    width = max([len("tracklet")] + [len(h.tracklet) for h in result.hits])
    head = f"{'rank':>4}  {'distance':>8}  {'top %':>7}  {'P(same)':>7}  {'camera':<10}  {'tracklet':<{width}}"
    lines += ["", head, "-" * len(head)]
    lines += [f"{h.rank:>4}  {h.distance:8.4f}  {format_percentile(h.percentile):>7}  "
              f"{'-' if h.probability is None else f'{h.probability:.2f}':>7}  {h.camera or '-':<10}  "
              f"{h.tracklet:<{width}}" for h in result.hits]
    if not result.hits:
        lines.append("(no result)")
    lines.append("\ntop %: share of the searched gallery at this distance or closer; P(same): calibrated same-person "
                 "probability" + ("" if index.header.get("calibration") else
                                  " (- : this index has no calibration; see docs/search.md)"))
    return "\n".join(lines)


def run(args) -> int:
    import json

    from ..search.index import GalleryIndex
    from ..search.searcher import Searcher

    from ..errors import VidReIDError
    if args.top < 1:
        raise VidReIDError(f"--top must be >= 1, got {args.top}")
    if args.strip < 1:
        raise VidReIDError(f"--strip must be >= 1 (frames shown per tracklet on the HTML page), got {args.strip}")
    for option, value in (("--every", args.every), ("--follow-frames", args.follow_frames), ("--nprobe", args.nprobe),
                          ("--exact-rerank", args.exact_rerank)):
        if value is not None and value < 1:
            raise VidReIDError(f"{option} must be >= 1, got {value}")
    if args.html:
        import os

        from ..utils.io import check_output_file
        check_output_file(args.html, "--html", args.overwrite,
                          inputs={"probe": args.probe, "index header": os.path.join(args.index, "index.json")})
    gi = GalleryIndex.load(args.index)
    if args.exact_rerank is not None:
        gi.require_features()                                     # before embedding the probe
    checkpoint = args.checkpoint or gi.header["model"].get("checkpoint")
    s = Searcher(checkpoint, index=gi, device=args.device, workers=0)
    probe = args.probe
    if args.track is not None:
        from ..search.probe import track_probe
        if args.box or args.frame:
            raise VidReIDError("--track picks a whole track: no --box or --frame with it")
        probe = track_probe(args.probe, args.track, args.camera)
    elif args.frame is not None:
        from ..search.probe import follow_probe
        from ..tracking.detectors import build_detector
        if not args.box:
            raise VidReIDError("--frame N follows the person in --box x,y,w,h at that frame: pass --box too")
        detector = build_detector(args.detector, args.detections, upscale=args.upscale)
        probe = follow_probe(args.probe, args.box, args.frame, detector, s.extractor.input_size, args.every,
                             args.follow_frames, progress=not args.json)
    result = s.query(probe, top=args.top, exclude_same_camera=args.exclude_same_camera, camera=args.camera,
                     box=args.box, nprobe=args.nprobe, exact_rerank=args.exact_rerank)
    if args.html:
        from ..search.html import render_html
        render_html(args.html, result, gi, s.extractor, strip=args.strip, attention=not args.no_attention)
    if args.json:
        doc = result.to_dict()
        doc["index"] = {"path": gi.path, "tracklets": len(gi), "model": gi.header["model"]}
        if args.html:
            doc["html"] = args.html
        print(json.dumps(doc, indent=1))
    else:
        print(format_hits(result, gi))
        if args.html:
            print(f"\npage: {args.html}")
    return 0
