"""ONNX export: every registered model exports, and onnxruntime reproduces PyTorch (max abs diff <= 1e-4) on other
batch sizes and, where T is dynamic, another clip length."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("onnx", reason="export needs onnx (pip install 'vidreid[export]')")
ort = pytest.importorskip("onnxruntime", reason="export checks need onnxruntime (pip install 'vidreid[export]')")

from vidreid.export import (ExportError, _adaptive_avg_pool3d_by_matmul, export_compat, export_model,  # noqa
                            frame_multiple, static_frames)
from vidreid.models import build_model, list_models  # noqa: E402

SIZE = (64, 32)


@pytest.mark.parametrize("name", list_models())
def test_every_model_exports_and_matches_pytorch(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, 5, backbone="resnet18", input_size=SIZE).eval()
    T = 4
    path = str(tmp_path / f"{name}.onnx")
    report = export_model(model, name, path, SIZE, T, check=False)
    assert report["dynamic_frames"] == (static_frames(name) is None)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shapes = [(1, T), (3, T)] + ([(2, 2 * T)] if report["dynamic_frames"] else [])
    for B, frames in shapes:
        x = torch.randn(B, frames, 3, *SIZE)
        with torch.no_grad():
            ref = model(x).embedding.numpy()
        out = session.run(None, {"clips": x.numpy()})[0]
        assert out.shape == ref.shape == (B, model.feat_dim)
        assert np.abs(out - ref).max() <= 1e-4, (name, B, frames, np.abs(out - ref).max())
    if static_frames(name):                                     # a fixed-T graph refuses another T outright
        with pytest.raises(Exception):
            session.run(None, {"clips": np.zeros((1, T + 1, 3, *SIZE), np.float32)})


def test_cli_export_from_checkpoint(tmp_path, capsys):
    from test_search import make_checkpoint
    from vidreid.cli import main
    import onnx
    ck = make_checkpoint(tmp_path / "sta.safetensors", model="sta")
    assert main(["export", "--checkpoint", ck, "--format", "onnx", "--frames", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(tmp_path / "sta.onnx") and report["dynamic_frames"]
    assert report["check"]["max_abs_diff"] <= 1e-4 and len(report["check"]["cases"]) == 3
    meta = {p.key: p.value for p in onnx.load(report["path"]).metadata_props}
    assert meta["vidreid_model"] == "sta" and meta["input_size"] == "64x32" and len(meta["model_hash"]) == 64
    assert "as vidreid eval" in meta["resize"]                         # the resize the inputs need (docs/search.md)
    # the text report
    assert main(["export", "--checkpoint", ck, "--out", str(tmp_path / "b.onnx"), "--static-frames"]) == 0
    out = capsys.readouterr().out
    assert "T fixed at 4" in out and "onnxruntime vs PyTorch" in out


def test_export_refusals(tmp_path):
    rru = build_model("rru_stim", 5, backbone="resnet18", input_size=SIZE)
    with pytest.raises(ExportError, match="dynamic T"):
        export_model(rru, "rru_stim", str(tmp_path / "r.onnx"), SIZE, 4, dynamic_frames=True)
    ste = build_model("ste_nvan", 5, backbone="resnet18")
    with pytest.raises(ExportError, match="multiple of 4"):
        export_model(ste, "ste_nvan", str(tmp_path / "s.onnx"), SIZE, 6)
    assert frame_multiple("ste_nvan") == 4 and frame_multiple("tp") == 1 and static_frames("rru_stim")


def test_export_compat_formulations_are_exact_and_restored():
    x = torch.randn(2, 5, 3, 13, 7)
    before = torch.Tensor.unflatten, F.adaptive_avg_pool3d
    with export_compat():
        assert torch.equal(x.flatten(0, 1).unflatten(0, (2, 5)), x)
        for size in [(3, 5, 1), (3, 13, 7), (1, 4, 2), (3, 16, 1)]:   # identity, pooled and widened axes
            ref = before[1](x, size)
            assert torch.allclose(F.adaptive_avg_pool3d(x, size), ref, atol=1e-6), size
    assert (torch.Tensor.unflatten, F.adaptive_avg_pool3d) == before
    assert torch.allclose(_adaptive_avg_pool3d_by_matmul(x, 2), F.adaptive_avg_pool3d(x, 2), atol=1e-6)
