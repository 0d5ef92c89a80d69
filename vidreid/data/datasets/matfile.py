"""Loading integer tables from MATLAB .mat files (v5/v7 via scipy, v7.3/HDF5 via h5py when installed)."""
from __future__ import annotations

import os

import numpy as np
import scipy.io

from ...errors import DatasetError


def load_mat_var(path: str, var: str, what: str) -> np.ndarray:
    """A numeric variable of a .mat file as int64 (MATLAB v5/v7 via scipy; v7.3/HDF5 via h5py when installed)."""
    if not os.path.isfile(path):
        raise DatasetError(f"missing {what} {path} (expected a .mat file with variable {var!r})")
    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:     # MATLAB v7.3 = HDF5
        mat = _load_mat_v73(path, var, what)
    except Exception as e:          # scipy raises ValueError/TypeError/... on garbage
        raise DatasetError(f"{path}: not a readable .mat file ({type(e).__name__}: {e}); expected variable "
                           f"{var!r}") from None
    if var not in mat:
        found = [k for k in mat if not k.startswith("__")]
        raise DatasetError(f"{path}: expected variable {var!r} in this {what}, found {found or 'none'}")
    arr = np.asarray(mat[var])
    if arr.dtype.kind not in "iuf" or arr.size == 0:
        raise DatasetError(f"{path}: variable {var!r} must be a non-empty numeric array, got dtype {arr.dtype} "
                           f"shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise DatasetError(f"{path}: variable {var!r} must hold integers")
    return arr.astype(np.int64)


def _load_mat_v73(path: str, var: str, what: str) -> dict:
    try:
        import h5py
    except ImportError:
        raise DatasetError(f"{path}: a MATLAB v7.3 (HDF5) {what}; reading it needs h5py (pip install h5py), or "
                           f"re-save it with MATLAB's -v7 (expected variable {var!r})") from None
    try:
        with h5py.File(path, "r") as f:
            # HDF5 stores MATLAB arrays transposed (column-major); undo it so shapes match scipy's
            return {k: np.asarray(f[k]).T for k in f.keys() if hasattr(f[k], "shape")}
    except OSError as e:
        raise DatasetError(f"{path}: not a readable MATLAB v7.3 file ({e}); expected variable {var!r}") from None
