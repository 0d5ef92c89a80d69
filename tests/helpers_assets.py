"""Real photographs and video for tests: Debian's opencv-doc example data (`make opencv-data` unpacks it into
data/opencv-doc-data/). Tests that need a file skip cleanly where it is absent."""
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CANDIDATES = [os.environ.get("VIDREID_OPENCV_DATA", ""), os.path.join(REPO, "data", "opencv-doc-data"),
               "/usr/share/doc/opencv-doc/examples/data"]


def opencv_data_file(name: str) -> str:
    """Path of `name` in the opencv-doc example data, or skip the test."""
    for folder in _CANDIDATES:
        if folder and os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    pytest.skip(f"{name} not found (run `make opencv-data`, or set VIDREID_OPENCV_DATA)")
