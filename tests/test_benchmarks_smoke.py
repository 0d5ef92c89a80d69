"""Every benchmarks/ script runs its `--smoke` mode (seconds, tiny sizes, vidreid's code path) and exits 0, so that
an interface change cannot break a benchmark silently. Private helper modules (`_*.py`) are not scripts.
(tests/test_layout.py also checks the `from vidreid... import` names of every script, including code paths the smoke
modes do not reach.)

Each script runs as `python benchmarks/SCRIPT --smoke` would, in a new process forked from a warm interpreter that
has imported torch and vidreid once (scripts/warm_python.py): each script no longer pays seconds of imports."""
import glob
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
from warm_python import LIBRARIES, WarmPython  # noqa: E402

ALL_SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "benchmarks", "*.py"))
                     if not os.path.basename(p).startswith("_"))
# smoke runs that another script's smoke run makes: there, once
SMOKED_ELSEWHERE = {"synthped_models.py": "gpu_check.py --smoke (its learning-curve point: synthped_models.py --smoke)"}
SCRIPTS = [s for s in ALL_SCRIPTS if s not in SMOKED_ELSEWHERE]


# scripts reading vtest's crops -> whether they take --video (the crops are cut once per test run: conftest.py)
ON_VTEST_CROPS = {"learned_footage.py": False, "real_footage.py": True, "vtest_associate.py": True}
EXTRA_ARGS = {"real_footage.py": ["--threads", "1"]}


def real_footage_rows(output: str) -> None:
    """Every row of real_footage's table is filled: the random-weight network's 8 cells are percentages."""
    row = next(line for line in output.splitlines() if line.startswith("| random-weight"))
    cells = [float(c) for c in row.split("|")[2:10]]
    assert len(cells) == 8 and all(0 < c <= 100 for c in cells), row


# what a smoke run's output must show besides its exit status
OUTPUT_CHECKS = {"real_footage.py": real_footage_rows}


@pytest.fixture(scope="module")
def warm_python():
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    with WarmPython(env, LIBRARIES, ["vidreid"]) as py:
        yield py


def test_scripts_are_found():
    assert "extract_speed.py" in SCRIPTS and not any(s.startswith("_") for s in ALL_SCRIPTS)
    assert set(SMOKED_ELSEWHERE) <= set(ALL_SCRIPTS) and set(OUTPUT_CHECKS) <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_smoke_mode_exits_0(script, warm_python, request):
    extra = []
    if script in ON_VTEST_CROPS:               # the session's crops, not a cut of their own into the clone's runs/
        root, video = request.getfixturevalue("vtest_crops")
        extra = ["--root", root] + (["--video", video] if ON_VTEST_CROPS[script] else [])
    code, output, _ = warm_python.run_script(os.path.join("benchmarks", script),
                                             ["--smoke", *extra, *EXTRA_ARGS.get(script, [])], REPO, timeout=300)
    assert code == 0, f"{script} --smoke exited {code}:\n{output[-6000:]}"
    OUTPUT_CHECKS.get(script, lambda output: None)(output)
