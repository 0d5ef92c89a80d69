"""Search a gallery with a probe video: feature extraction, FAISS indexes, result pages (`vidreid index`,
`vidreid search`; docs/search.md). Names are imported on first use so `import vidreid.search` stays light."""
from __future__ import annotations

_EXPORTS = {
    "Searcher": "searcher", "SearchResult": "searcher",
    "FeatureExtractor": "extractor",
    "GalleryIndex": "index", "Hit": "index", "SearchIndexError": "index",
    "GallerySource": "gallery", "resolve_gallery": "gallery",
    "Probe": "probe", "load_probe": "probe",
    "render_html": "html",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
