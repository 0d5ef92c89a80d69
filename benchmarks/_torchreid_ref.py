"""torchreid 0.2.5's numpy reference implementations, for side-by-side benchmarks only.

Installs `torchreid==0.2.5` (no dependencies) into a throwaway virtualenv under benchmarks/.cache/ (git-ignored)
on first use and imports two of its files by path -- `torchreid/reid/metrics/rank.py` (`evaluate_rank`) and
`torchreid/reid/utils/rerank.py` (`re_ranking`) -- which need only numpy. Nothing from torchreid is copied into
this repository. Set VIDREID_TORCHREID_CACHE to use another folder.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys
import warnings

VERSION = "0.2.5"
CACHE = os.environ.get("VIDREID_TORCHREID_CACHE",
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache", f"torchreid-{VERSION}"))


def _package_dir() -> str:
    found = glob.glob(os.path.join(CACHE, "venv", "lib", "python*", "site-packages", "torchreid",
                                   "reid", "utils", "rerank.py"))
    if found:  # a complete install (checked by its last file)
        return os.path.dirname(os.path.dirname(os.path.dirname(found[0])))
    venv = os.path.join(CACHE, "venv")
    print(f"[torchreid-ref] installing torchreid=={VERSION} into {venv} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    # the venv has no pip of its own: use ours, targeting the throwaway venv's site-packages
    site = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))[0]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                    "--target", site, f"torchreid=={VERSION}"], check=True)
    return os.path.join(site, "torchreid")


def _load(relative: str, name: str):
    path = os.path.join(_package_dir(), *relative.split("/"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Cython evaluation ... unavailable": we want the numpy path
        spec.loader.exec_module(module)
    return module


def evaluate_rank():
    """torchreid.reid.metrics.rank.evaluate_rank (call it with use_cython=False)."""
    return _load("reid/metrics/rank.py", "_torchreid_rank").evaluate_rank


def re_ranking():
    """torchreid.reid.utils.rerank.re_ranking."""
    return _load("reid/utils/rerank.py", "_torchreid_rerank").re_ranking


if __name__ == "__main__":
    print(_package_dir())
