"""Refresh the vendored Eigen: copy Eigen/Core, Eigen/SparseCore and what they include.

Usage: python cpp/extern/refresh_eigen.py /path/to/eigen3   (the directory holding Eigen/)

nnqft includes <Eigen/Core>; pybind11's Eigen type casters (pybind11/eigen.h, used by the
bindings) include <Eigen/Core> and <Eigen/SparseCore>.  This copies the closure of their
#include lines, followed
textually whatever the platform or macro (so the SSE, AVX, NEON, AltiVec, ... paths stay),
into cpp/extern/eigen/Eigen, replacing what is there; the licence files and VERSION are
kept.  Then update VERSION and rebuild with the C++ tests (see cpp/extern/README.md).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / "eigen"
INCLUDE = re.compile(r'#\s*include\s*[<"]([^>"]+)[>"]')


#: The headers the build includes; everything they include is kept.
STARTS = ("Eigen/Core", "Eigen/SparseCore")


def closure(root: Path, starts: tuple[str, ...] = STARTS) -> set[str]:
    """Every file under ``root`` that ``starts`` can include, directly or not."""
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        text = (root / name).read_text(errors="replace")
        for inc in INCLUDE.findall(text):
            for candidate in (os.path.normpath(os.path.join(os.path.dirname(name), inc)), inc):
                if (root / candidate).is_file():
                    stack.append(candidate)
                    break
    return seen


def main(source: str) -> None:
    root = Path(source)
    files = closure(root)
    shutil.rmtree(TARGET / "Eigen", ignore_errors=True)
    for name in sorted(files):
        (TARGET / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, TARGET / name)
    print(f"copied {len(files)} files of the closure of {', '.join(STARTS)} into {TARGET / 'Eigen'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
