"""Run every bench/bench_*.py and write bench/RESULTS.md with the machine described.

Each bench module exposes run() -> list[(measurement, value)]. Ratios are measured within one run;
absolute times hold only for the machine named at the top of RESULTS.md.
    python build.py bench [NAME ...]     (NAME: e.g. features, keys; default all)
"""
from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # the add-on package (lm2d_blender) lives at the repo root
RESULTS = BENCH_DIR / "RESULTS.md"


def describe_machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import torch  # noqa: PLC0415 — only for the description

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores{memory}, {gpu}",
        f"- Software: Python {platform.python_version()}, torch {torch.__version__}, {platform.platform()}",
        f"- Date: {datetime.date.today().isoformat()}",
    ]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def previous_sections() -> dict[str, str]:
    """Sections of the last RESULTS.md, so running one bench keeps the others' numbers."""
    if not RESULTS.exists():
        return {}
    chunks = RESULTS.read_text().split("\n## ")[1:]
    return dict(chunk.rstrip().split(" ", 1) for chunk in chunks)


def main(names: list[str]) -> int:
    paths = sorted(BENCH_DIR.glob("bench_*.py"))
    if names:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in names]
    sections, failed = previous_sections(), False
    for path in paths:
        print(f"bench: {path.stem} ...", flush=True)
        started = time.perf_counter()
        try:
            rows = load(path).run()
        except Exception:  # a broken bench is reported in RESULTS.md, the others still run
            failed = True
            rows = [("FAILED", traceback.format_exc().strip().splitlines()[-1])]
        took = time.perf_counter() - started
        table = ["| measurement | value |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
        sections[path.stem.removeprefix("bench_")] = f"({took:.0f} s)\n\n" + "\n".join(table)
        print("\n".join(table), flush=True)
    body = "\n\n".join(f"## {name} {text}" for name, text in sorted(sections.items()))
    RESULTS.write_text("# Benchmark results\n\n" + "\n".join(describe_machine()) + "\n\n" + body + "\n")
    print(f"bench: wrote {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
