"""Time ``beeplan.manifest.load`` on a generated set of 10,000 entities.

    python -m benchmarks.bench_validate [--entities 10000] [--repeat 5]

Prints the best and median wall time of ``load()`` (read, parse, schema,
checks, model) and writes them to benchmarks/out/validate.json. Target: under
2 s for 10,000 entities.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from beeplan.manifest import load

from .gen_manifests import write

TARGET_SECONDS = 2.0
OUT = Path(__file__).parent / "out" / "validate.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        written = write(args.entities, directory, args.seed)
        size = sum(p.stat().st_size for p in directory.rglob("*.yaml"))
        files = sum(1 for _ in directory.rglob("*.yaml"))
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            state = load(directory)
            times.append(time.perf_counter() - start)
        assert len(state.entities) == written, (len(state.entities), written)

    best, median = min(times), statistics.median(times)
    result = {
        "benchmark": "validate",
        "entities": written,
        "files": files,
        "bytes": size,
        "repeat": args.repeat,
        "best_seconds": round(best, 3),
        "median_seconds": round(median, 3),
        "target_seconds": TARGET_SECONDS,
        "within_target": median < TARGET_SECONDS,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    verdict = "within" if result["within_target"] else "OVER"
    print(f"load() of {written} entities in {files} files ({size / 1e6:.1f} MB): "
          f"best {best:.3f} s, median {median:.3f} s ({verdict} the {TARGET_SECONDS:.0f} s target)")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
