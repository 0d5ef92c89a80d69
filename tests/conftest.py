"""Session fixtures shared by the end-to-end tests."""
import os
import shutil

import pytest

# OpenMP threads that wait sleep instead of spinning. Read once, when torch's OpenMP runtime loads (the next import),
# and inherited by every process the tests start. Spinning burns the other xdist worker's core whenever a run uses
# 2 intra-op threads, and test_reproducibility's 2-thread run pinned to one core spins for most of its time (run
# `pytest tests/test_reproducibility.py --durations=1` with OMP_WAIT_POLICY=ACTIVE and without to see both).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

# tests run on 2 shared cores: one intra-op thread keeps them predictable (and bit-for-bit repeatable)
torch.set_num_threads(1)

# tmp_path_factory.mktemp names of session-scoped fixtures (here and in test_models_train.py): kept for the session
SESSION_TEMP_NAMES = ("synth",)


@pytest.fixture(scope="module", autouse=True)
def free_module_temp_folders(request, tmp_path_factory):
    """Delete the folders a module's fixtures made (tmp_path_factory.mktemp) when the module ends, unless one of its
    tests failed: with pyproject's tmp_path_retention_policy the suite's disk peak is one module's, not the sum of all
    (~21 GB of checkpoints, more than a CI machine may have free)."""
    base = tmp_path_factory.getbasetemp()
    before, failed = set(os.listdir(base)), request.session.testsfailed
    yield
    if request.session.testsfailed != failed:
        return
    for name in set(os.listdir(base)) - before:
        if not name.startswith(SESSION_TEMP_NAMES):
            shutil.rmtree(base / name, ignore_errors=True)


@pytest.fixture(scope="session")
def vtest_crops(tmp_path_factory) -> tuple[str, str]:
    """(crops folder, video) of vtest.avi's labelled tracklets (loose boxes), cut once per test run (~9 s of
    decoding) and shared by every xdist worker: the first one to arrive cuts them under a lock, the others wait and
    reuse them (ensure_crops checks the folder's marker). Skips where the video is absent."""
    import fcntl

    from helpers_assets import opencv_data_file
    from vidreid.data.datasets.vtest import ensure_crops
    video = opencv_data_file("vtest.avi")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base   # workers' basetemps share a parent
    with open(shared / "vtest-crops.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)                       # released when the file closes
        root = ensure_crops(str(shared / "vtest-crops"), video=video)
    return root, video


TINY_SYNTH = {"ids": 16, "cams": 3, "height": 32, "width": 16, "max_len": 12, "median_len": 8, "seed": 0}


@pytest.fixture(scope="session")
def tiny_synthped(tmp_path_factory) -> str:
    """A tiny SynthPed in the MARS layout (16 ids, 3 cameras, 32x16 frames), generated once per session."""
    from vidreid.data.synthped import ensure_synthped
    root = str(tmp_path_factory.mktemp("synth") / "synthped")
    ensure_synthped(root, progress=False, **TINY_SYNTH)
    return root


def untrained_tp_checkpoint(path: str, synth_root: str) -> str:
    """An untrained TP (ResNet-18, 8 classes, 32x16 input, seeded) saved at `path` with a config that reads the tiny
    SynthPed at `synth_root` (rrs test clips of 4 frames) -> path."""
    from vidreid.config import Config
    from vidreid.models import build_model
    from vidreid.store.checkpoint import save_checkpoint
    cfg = Config()
    cfg.data.dataset, cfg.data.root, cfg.data.synth = "synthped", synth_root, dict(TINY_SYNTH)
    cfg.data.height, cfg.data.width, cfg.data.workers = 32, 16, 0
    cfg.data.test_sampling, cfg.data.test_seq_len = "rrs", 4
    cfg.model.name, cfg.model.backbone = "tp", "resnet18"
    torch.manual_seed(0)
    net = build_model("tp", 8, backbone="resnet18", input_size=(32, 16))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_checkpoint(path, net, {"model": "tp", "num_classes": 8, "config": cfg.to_dict(), "dataset": "synthped"})
    return path


def tiny_train_overrides(root: str, out: str, **extra) -> list[str]:
    """Overrides that make any config train in seconds on the tiny SynthPed."""
    # the colour options at SynthPed's defaults, stated: configs that set others (the demo's) merge into data.synth
    colour = {"palette_size": 8, "colour_jitter": 0.05, "colour_cast": 0.15}
    synth = "{" + ", ".join(f"{k}: {v}" for k, v in {**colour, **TINY_SYNTH}.items()) + "}"
    base = {"data.root": root, "data.synth": synth, "data.height": 32, "data.width": 16, "data.batch_size": 8,
            "data.num_instances": 2, "data.workers": 0, "data.test_seq_len": 4, "data.test_sampling": "rrs",
            "model.backbone": "resnet18", "model.pretrained": "null", "train.epochs": 2, "train.iters_per_epoch": 3, "train.output_dir": out,
            "train.tensorboard": "false", "train.threads": 1}
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture
def tiny_overrides():
    return tiny_train_overrides


@pytest.fixture(scope="session", autouse=True)
def preloaded_fork_server():
    """Start this worker's fork server with helpers_processes.PRELOAD before anything else starts it: SynthPed's
    render pool (the first tiny_synthped) would start it preloaded with its own module only, and every process
    forked later to train (helpers_processes) would then import torch._dynamo and vidreid itself (~30 core-seconds
    over the suite). Under xdist only (`make test`): a single module run by hand may need no server at all."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import helpers_processes
        helpers_processes.start_server()


def pytest_configure(config):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "VIDREID_TEST_CACHE" not in os.environ:
        # the run's own XDG_CACHE_HOME (vidreid's listing, epoch-0 checkpoints and detections), made by the first
        # process (the xdist controller, before it starts the workers, who inherit it): a run neither reads what an
        # earlier run cached nor leaves anything in the user's ~/.cache. torch's hub folder stays where it was.
        import tempfile
        os.environ.setdefault("TORCH_HOME", os.path.dirname(torch.hub.get_dir()))
        os.environ["VIDREID_TEST_CACHE"] = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="vidreid-tests-")
        config._vidreid_test_cache = os.environ["VIDREID_TEST_CACHE"]


def pytest_unconfigure(config):
    made = getattr(config, "_vidreid_test_cache", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


# modules of long subprocess-driven tests (tens of seconds to minutes each), started before the rest
LONG_FIRST = ("test_benchmarks_smoke.py", "test_train.py")


def pytest_collection_modifyitems(config, items):
    """The longest tests first (`slow` marks, then LONG_FIRST's modules), the rest in file order: xdist hands tests
    out in this order, so a 5-minute test started last would leave the other worker idle at the end of the run."""
    def rank(item) -> int:
        if item.get_closest_marker("slow"):
            return 0
        return 1 if item.path.name in LONG_FIRST else 2
    items.sort(key=rank)                                       # stable: file order within each rank
