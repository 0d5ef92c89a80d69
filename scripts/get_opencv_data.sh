#!/usr/bin/env bash
# Real photographs and a real pedestrian video for tests and examples: Debian's opencv-doc ships them under
# /usr/share/doc/opencv-doc/examples/data (squirrel_cls.jpg, orange.jpg, baboon.jpg, vtest.avi, ...). The .deb is
# unpacked (not installed: slim images exclude /usr/share/doc) into data/opencv-doc-data/. Without apt the tests that
# need these files skip, so this never fails the build.
set -u
dest="${1:-data/opencv-doc-data}"
[ -f "$dest/vtest.avi" ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found: tests on real photographs will skip"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if (cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1) && dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"; then
    mkdir -p "$(dirname "$dest")"
    rm -rf "$dest.tmp" && cp -r "$tmp/x/usr/share/doc/opencv-doc/examples/data" "$dest.tmp" && mv "$dest.tmp" "$dest"
    echo "opencv-doc example data in $dest"
else
    echo "could not download Debian's opencv-doc: tests on real photographs will skip"
fi
