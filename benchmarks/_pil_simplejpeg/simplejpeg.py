"""A stand-in for simplejpeg (libjpeg-turbo) written with PIL, for machines where the simplejpeg wheel is missing.

Only benchmarks/gpu_check.py puts this folder on the path, and only when `import simplejpeg` fails (appended: a real
simplejpeg always wins); it says so in its report. It implements the calls vidreid makes: `decode_jpeg` (RGB/BGR,
reduced-scale decoding through PIL's draft mode: the same power-of-two DCT scales as `min_factor=2`, `buffer=`) and
`encode_jpeg` (quality, chroma subsampling). PIL's libjpeg may round differently from simplejpeg's, so pixels (and a
SynthPed written through it) are close to, not bit-identical with, what simplejpeg gives, and decoding is slower:
timings made through it are not simplejpeg's.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

__version__ = "0+pil-standin"
SUBSAMPLING = {"444": 0, "422": 1, "420": 2, "440": 2, "411": 2, "Gray": 0}   # PIL's codes (440/411: nearest it has)


def decode_jpeg(data, colorspace: str = "RGB", fastdct: bool = False, fastupsample: bool = False,
                min_height: int = 0, min_width: int = 0, min_factor: float = 1, buffer=None) -> np.ndarray:
    """JPEG bytes -> uint8 (H, W, 3) in `colorspace` (RGB or BGR); with min_height/min_width the largest
    power-of-two reduction that keeps both sides at least that large (none when they are 0). ValueError when the
    data is not a decodable JPEG or `buffer` has another shape."""
    try:
        img = Image.open(io.BytesIO(bytes(data)))
        if min_height or min_width:
            img.draft("RGB", (max(int(min_width), 1), max(int(min_height), 1)))
        arr = np.asarray(img.convert("RGB"))
    except Exception as e:  # PIL raises several types; simplejpeg raises ValueError
        raise ValueError(f"not a decodable JPEG ({type(e).__name__}: {e})") from None
    if colorspace.upper() == "BGR":
        arr = arr[..., ::-1]
    elif colorspace.upper() != "RGB":
        raise ValueError(f"colorspace {colorspace!r}: this stand-in decodes to RGB or BGR only")
    if buffer is None:
        return np.ascontiguousarray(arr)
    if buffer.shape != arr.shape:
        raise ValueError(f"buffer of shape {buffer.shape} for an image of shape {arr.shape}")
    buffer[...] = arr
    return buffer


def encode_jpeg(image: np.ndarray, quality: int = 85, colorspace: str = "RGB", colorsubsampling: str = "444",
                fastdct: bool = True) -> bytes:
    """uint8 (H, W, 3) in `colorspace` (RGB or BGR) -> JPEG bytes."""
    arr = np.ascontiguousarray(image[..., ::-1] if colorspace.upper() == "BGR" else image)
    out = io.BytesIO()
    Image.fromarray(arr, "RGB").save(out, format="JPEG", quality=int(quality),
                                     subsampling=SUBSAMPLING.get(colorsubsampling, 2))
    return out.getvalue()
