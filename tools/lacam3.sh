#!/usr/bin/env bash
# Builds LaCAM3 (github.com/Kei18/lacam3, MIT; Okumura, AAMAS 2024), the reference planner
# `tote-sim bench planner` measures ours against. It is built outside the repo and never
# committed.
#
#   tools/lacam3.sh              clone the pinned commit (with its argparse submodule) and build
#   tools/lacam3.sh SOURCE_DIR   build a copy of a checkout you already have
#
# The binary lands in ${TMPDIR:-/tmp}/lacam3/build/main, where the bench looks by default.
set -euo pipefail
commit=1a269b7addc1edc4f1f56b194d307190f5491943
dest="${TMPDIR:-/tmp}/lacam3"
if [ $# -ge 1 ]; then
    [ -f "$1/CMakeLists.txt" ] || { echo "$1 is not a LaCAM3 checkout" >&2; exit 2; }
    [ -f "$1/third_party/argparse/include/argparse/argparse.hpp" ] || { echo "$1 lacks third_party/argparse (git submodule update --init)" >&2; exit 2; }
    [ "$(realpath "$1")" = "$(realpath -m "$dest")" ] || { rm -rf "$dest"; cp -r "$1" "$dest"; }
elif [ ! -d "$dest/.git" ]; then
    rm -rf "$dest"
    git clone https://github.com/Kei18/lacam3 "$dest"
    git -C "$dest" checkout -q "$commit"
    git -C "$dest" submodule update --init --recursive
fi
command -v cmake > /dev/null || { echo "cmake is missing: apt-get install cmake g++" >&2; exit 2; }
cmake -S "$dest" -B "$dest/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$dest/build" --target main -j"$(nproc)"
echo "$dest/build/main"
