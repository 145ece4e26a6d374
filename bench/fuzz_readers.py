"""Fuzz every upload reader far longer than CI does: the properties of
tests/spatial/test_spatial_fuzz.py (random bytes, bytes behind magic numbers, mutated exchange
files, damaged drawings, GeoJSON-like text, random polygons) with many more examples.

    .venv/bin/python bench/fuzz_readers.py --examples 2000

Each property must end in a parsed result or a SpatialError naming the file, never another
exception. A failure prints hypothesis' minimal example: add it to the test file as an
@example so it stays a regression test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(root / "tests/spatial/test_spatial_fuzz.py")],
                          env={**os.environ, "CADASTRE_FUZZ_EXAMPLES": str(args.examples)}, cwd=root)
    print(f"fuzzing with {args.examples} examples per property: {time.perf_counter() - started:.0f} s, "
          f"{'no crash' if done.returncode == 0 else 'FAILURES above'}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
