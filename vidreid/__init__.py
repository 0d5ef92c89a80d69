"""vidreid: video-based person re-identification."""
__version__ = "0.1.0"

# heavy parts (torch, FAISS) load on first use, so `import vidreid` and `vidreid --help` stay instant
_LAZY = {"Searcher": "vidreid.search.searcher", "FeatureExtractor": "vidreid.search.extractor",
         "Hit": "vidreid.search.index"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vidreid' has no attribute {name!r}")
