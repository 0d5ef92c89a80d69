"""What "nothing written, replaced or lost" compares: a snapshot of files and folders taken before and after a
command that must leave them alone."""
import hashlib
import os

EDGE = 64 << 10         # bytes read from each end of a file (all of a file up to twice that)


def snapshot(*paths) -> dict:
    """Every folder and file under `paths` (files or folders): path -> None for a folder, (size, mtime_ns, inode,
    digest) for a file. A write changes its mtime (and size or bytes), a replacement its inode, a removal or an
    addition the keys; the digest covers the first and last EDGE bytes (all of a small file), so that checkpoints of
    tens of MB are not read whole a hundred times per run."""
    out = {}
    for top in map(str, paths):
        if not os.path.isdir(top):
            _add_file(out, top)
            continue
        for d, _, files in os.walk(top):
            out[d] = None
            for name in files:
                _add_file(out, os.path.join(d, name))
    return out


def _add_file(out: dict, path: str) -> None:
    st = os.lstat(path)
    h = hashlib.sha256()
    if not os.path.islink(path):
        with open(path, "rb") as f:
            if st.st_size <= 2 * EDGE:
                h.update(f.read())
            else:
                h.update(f.read(EDGE))
                f.seek(-EDGE, os.SEEK_END)
                h.update(f.read())
    out[path] = (st.st_size, st.st_mtime_ns, st.st_ino, h.hexdigest())
