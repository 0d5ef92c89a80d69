"""Export a checkpoint's eval graph for deployment: ONNX, checked against PyTorch with onnxruntime.

The graph maps clips (B, T, 3, H, W) float32 — frames resized to the checkpoint's (H, W) as `vidreid eval` resizes
them (a JPEG >= 2x (H, W) decoded at reduced scale, pixels from elsewhere reduced alike by
`vidreid.search.probe.reduce_like_decoder`, then antialiased bilinear to (H, W); docs/search.md, "The resize"), RGB,
scaled to [0, 1] and normalised with its mean/std — to the (B, D) eval feature (the same tensor `model(clips)`
returns in eval mode; not L2-normalised). The batch axis is always dynamic; the frame axis T is dynamic except for
the models registered with `static_frames` (a reason; models/registry.py). A tracklet's search feature is the
L2-normalised mean of its clip features
(docs/search.md).

Exporter: the TorchScript-based `torch.onnx.export(..., dynamo=False)` (opset 17): it needs no extra package and
exports every vidreid model. Two of its shape limitations are worked around while tracing (`export_compat`), by
mathematically identical formulations, so the vidreid models themselves stay as written:
  * `Tensor.unflatten` is exported with the sizes it saw while tracing, which freezes the batch axis (STA splits the
    batch of frames back into clips with it): it is replaced by a reshape from the traced sizes.
  * `F.adaptive_avg_pool3d` with an output size computed from the input's shape cannot be exported (STE-NVAN's
    stripe pooling keeps T and pools rows into stripes): it becomes a matrix product per pooled axis (the exact
    adaptive-pooling bins), axes whose output size equals the input size are left alone.
The export is then run with onnxruntime on other batch sizes (and another T) and compared with PyTorch
(`check=True`, default): max |onnx - torch| <= tol * max(1, max |torch|), tol = 1e-4.
"""
from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import VidReIDError

# models whose exported graph has a fixed T, and why
OPSET = 17


class ExportError(VidReIDError):
    """The export failed or does not reproduce the PyTorch model."""


class EvalGraph(nn.Module):
    """The eval forward as a module of one tensor input and one tensor output."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.eval()                                             # the exporter restores this mode after tracing

    def forward(self, clips: torch.Tensor) -> torch.Tensor:   # clips: (B, T, 3, H, W)
        return self.model(clips).embedding                      # (B, D)


def _unflatten_by_reshape(self: torch.Tensor, dim: int, sizes) -> torch.Tensor:
    dim = dim % self.dim()
    shape = list(self.shape)                                    # traced sizes: stay dynamic in the graph
    return self.reshape(shape[:dim] + list(sizes) + shape[dim + 1:])


def _pool_matrix(n: int, out: int, dtype) -> torch.Tensor:
    """(n, out) averaging matrix of adaptive pooling: bin i = [floor(i n / out), ceil((i + 1) n / out))."""
    rows = torch.arange(n)[:, None]
    bins = torch.arange(out)[None]
    member = ((rows >= (bins * n) // out) & (rows < ((bins + 1) * n + out - 1) // out)).to(dtype)
    return member / member.sum(0, keepdim=True)


def _adaptive_avg_pool3d_by_matmul(x: torch.Tensor, output_size) -> torch.Tensor:
    if isinstance(output_size, int):
        output_size = (output_size,) * 3
    out = x
    for axis, size in zip((-3, -2, -1), output_size):
        n = x.shape[axis]
        if size is None or size == n:                          # identity along this axis (e.g. STE-NVAN's T)
            continue
        pooled = torch.movedim(out, axis, -1) @ _pool_matrix(int(n), int(size), x.dtype)
        out = torch.movedim(pooled, -1, axis)
    return out


@contextlib.contextmanager
def export_compat():
    """Swap in the export-friendly formulations above while tracing (restored on exit)."""
    saved = torch.Tensor.unflatten, F.adaptive_avg_pool3d
    torch.Tensor.unflatten = _unflatten_by_reshape
    F.adaptive_avg_pool3d = _adaptive_avg_pool3d_by_matmul
    try:
        yield
    finally:
        torch.Tensor.unflatten, F.adaptive_avg_pool3d = saved


def frame_multiple(model_name: str) -> int:
    """The clip lengths model `model_name` takes are multiples of this (its registration; 1 for most)."""
    from .models.registry import model_attribute
    return int(model_attribute(model_name, "frame_multiple", 1))


def static_frames(model_name: str) -> str | None:
    """Why the ONNX graph of `model_name` has a fixed clip length (its registration), or None: a dynamic T."""
    from .models.registry import model_attribute
    return model_attribute(model_name, "static_frames")


def default_frames(cfg, model_name: str) -> int:
    T = int(cfg.data.test_seq_len or cfg.data.seq_len)
    m = frame_multiple(model_name)
    return max(m, -(-T // m) * m)


def export_model(model: nn.Module, model_name: str, path: str, input_size: tuple[int, int], frames: int,
                 batch: int = 2, opset: int = OPSET, dynamic_frames: bool | None = None, metadata: dict | None = None,
                 check: bool = True, tol: float = 1e-4) -> dict:
    """Export `model` (eval mode) to ONNX at `path` (atomically) -> report dict (see export_onnx)."""
    from .utils.io import atomic_path
    m = frame_multiple(model_name)
    if frames < 1 or frames % m:
        raise ExportError(f"{model_name}: --frames must be a positive multiple of {m}, got {frames}")
    if batch < 2:
        raise ExportError("the example batch must hold >= 2 clips (a batch of 1 would be traced as a constant)")
    static_reason = static_frames(model_name)
    if dynamic_frames is None:
        dynamic_frames = static_reason is None
    elif dynamic_frames and static_reason:
        raise ExportError(f"{model_name} cannot be exported with a dynamic T: {static_reason}")
    model = model.eval()
    H, W = input_size
    example = torch.randn(batch, frames, 3, H, W, generator=torch.Generator().manual_seed(0))
    axes = {"clips": {0: "batch", 1: "frames"} if dynamic_frames else {0: "batch"}, "features": {0: "batch"}}
    with atomic_path(path) as tmp:
        try:
            with export_compat(), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")                 # TracerWarnings about shape-derived Python ints
                torch.onnx.export(EvalGraph(model), (example,), tmp, input_names=["clips"],
                                  output_names=["features"], opset_version=opset, dynamic_axes=axes,
                                  do_constant_folding=True, dynamo=False)
        except Exception as e:  # the exporter raises many types (SymbolicValueError, UnsupportedOperatorError ...)
            raise ExportError(f"{model_name}: ONNX export failed ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:300]})") from None
        _add_metadata(tmp, metadata or {})
    report = {"path": path, "model": model_name, "opset": opset, "frames": frames, "dynamic_batch": True,
              "dynamic_frames": bool(dynamic_frames), "static_frames_reason": None if dynamic_frames else
              (static_reason or "asked for"), "input": {"name": "clips", "shape": ["batch",
              "frames" if dynamic_frames else frames, 3, H, W]}, "output": {"name": "features",
              "shape": ["batch", int(getattr(model, "feat_dim", 0)) or "D"]}, "check": None}
    if check:
        try:
            report["check"] = check_onnx(model, path, input_size, frames, dynamic_frames, m, tol)
        except ExportError:
            os.unlink(path)                                     # never leave a graph that is known to be wrong
            raise
    return report


def _add_metadata(path: str, metadata: dict) -> None:
    if not metadata:
        return
    import onnx
    proto = onnx.load(path)
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(k), str(v)
    onnx.save(proto, path)


@torch.no_grad()
def check_onnx(model: nn.Module, path: str, input_size: tuple[int, int], frames: int, dynamic_frames: bool,
               multiple: int = 1, tol: float = 1e-4) -> dict:
    """Run the ONNX file with onnxruntime on batch sizes 1 and 3 (and T' = 2T when T is dynamic) and compare with
    PyTorch. ExportError when max |diff| > tol * max(1, max |torch|)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise VidReIDError("checking an export needs onnxruntime: pip install 'vidreid[export]' (or --no-check)"
                           ) from None
    H, W = input_size
    model.eval()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cases = [(1, frames), (3, frames)] + ([(2, 2 * frames)] if dynamic_frames else [])
    gen = torch.Generator().manual_seed(1)
    results = []
    for B, T in cases:                                          # loop over a few input shapes
        x = torch.randn(B, T, 3, H, W, generator=gen)
        ref = model(x).embedding.float().numpy()
        try:
            out = session.run(["features"], {"clips": x.numpy()})[0]
        except Exception as e:  # onnxruntime's errors have several types
            raise ExportError(f"{path}: onnxruntime fails on clips of shape {(B, T, 3, H, W)} "
                              f"({str(e).splitlines()[0][:200]})") from None
        if out.shape != ref.shape:
            raise ExportError(f"{path}: onnxruntime returns {out.shape} for clips {(B, T)}, PyTorch {ref.shape}")
        diff = float(np.abs(out - ref).max())
        bound = tol * max(1.0, float(np.abs(ref).max()))
        results.append({"batch": B, "frames": T, "max_abs_diff": diff, "bound": bound})
        if not diff <= bound:
            raise ExportError(f"{path}: onnxruntime differs from PyTorch by {diff:.2e} > {bound:.2e} on clips "
                              f"{(B, T)}")
    return {"cases": results, "max_abs_diff": max(r["max_abs_diff"] for r in results)}


def _opsets() -> tuple[int, int]:
    """The ONNX opsets the TorchScript exporter writes (torch's own bounds; 7..20 if torch hides them)."""
    try:
        from torch.onnx import _constants as c
        return c.ONNX_MIN_OPSET, c.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except (ImportError, AttributeError):
        return 7, 20


def export_onnx(checkpoint: str, out: str | None = None, frames: int | None = None, batch: int = 2,
                opset: int = OPSET, dynamic_frames: bool | None = None, check: bool = True,
                tol: float = 1e-4, overwrite: bool = False) -> dict:
    """Export a checkpoint's eval graph to ONNX (default path: the checkpoint's with .onnx). frames: the example
    clip length (default: the checkpoint's test clip length, rounded up to a multiple the model needs).

    Returns a report: path, model, frames, dynamic_frames (+ static_frames_reason), input/output shapes, and the
    onnxruntime-vs-PyTorch check. The ONNX file's metadata_props record the model, its hash, the input size,
    mean/std, the resize the inputs need, T and the test-time sampling. An existing `out` is replaced only with
    `overwrite`; the checkpoint itself never (checked before the model is built)."""
    from .config import config_from_dict
    from .utils.io import check_output_file
    out = out or os.path.splitext(checkpoint)[0] + ".onnx"
    check_output_file(out, "--out", overwrite, inputs={"checkpoint": checkpoint})
    if frames is not None and frames < 1:
        raise ExportError(f"--frames must be positive, got {frames}")
    low, high = _opsets()
    if not low <= opset <= high:
        raise ExportError(f"--opset must be between {low} and {high} (what torch.onnx exports), got {opset}")
    from .inference.model import build_model_from_checkpoint
    from .store.identity import model_hash
    model, meta = build_model_from_checkpoint(checkpoint)
    cfg = config_from_dict(meta["config"])
    name = cfg.model.name
    from .models.registry import model_kind
    if model_kind(name) != "network":
        raise ExportError(f"{checkpoint} holds {name!r}, which computes (part of) its feature in numpy (classical "
                          f"features, fusion): it has no ONNX form; export the network checkpoint instead")
    frames = int(default_frames(cfg, name) if frames is None else frames)
    d = cfg.data
    metadata = {"vidreid_model": name, "backbone": cfg.model.backbone, "model_hash": model_hash(model, cfg),
                "input_size": f"{d.height}x{d.width}", "mean": ",".join(map(str, d.mean)),
                "std": ",".join(map(str, d.std)), "frames": frames,
                "dynamic_frames": dynamic_frames if dynamic_frames is not None else static_frames(name) is None,
                "test_sampling": cfg.eval.sampling or d.test_sampling,
                "input": "clips (B, T, 3, H, W) float32: RGB / 255, normalised with mean/std",
                "resize": "as vidreid eval: frames >= 2x HxW reduced like libjpeg scaled decoding (smallest of 1/2, "
                          "3/8, 1/4, 1/8 still >= HxW; area average), then bilinear with antialiasing to HxW",
                "output": "features (B, D) float32: eval feature (search: L2-normalised mean over clips)"}
    report = export_model(model, name, out, (d.height, d.width), frames, batch, opset, dynamic_frames, metadata,
                          check, tol)
    report["metadata"] = metadata
    return report
