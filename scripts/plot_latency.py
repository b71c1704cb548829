"""Plot the latency distributions recorded by `benchmarks/bench_e2e.py` as SVG files.

Reads `benchmarks/results/bench_e2e.json` and writes, next to it:
- `deadline-error-cdf.svg`: CDF of the playout deadline error for each concurrency level;
- `uplink-latency-cdf.svg`: CDF of uplink latency (user frame in → message on the socket)
  and of uplink CPU per 20 ms frame in the real-time pipeline.

Plain SVG, no plotting library needed. Run from the repository root:

    python scripts/plot_latency.py [--results PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "bench_e2e.json"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
WIDTH, HEIGHT, PAD = 640, 400, 60


def cdf_svg(title: str, x_label: str, series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """An SVG document with one empirical CDF line per (label, samples)."""
    x_max = max((float(np.percentile(v, 99.9)) for _, v in series if len(v)), default=1.0)
    x_max = x_max if x_max > 0 else 1.0
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def xy(x: float, y: float) -> str:
        return f"{PAD + min(x, x_max) / x_max * plot_w:.1f},{PAD + (1 - y) * plot_h:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 14}" text-anchor="middle">{x_label}</text>',
        f'<text x="16" y="{HEIGHT / 2}" transform="rotate(-90 16 {HEIGHT / 2})" '
        'text-anchor="middle">fraction of samples</text>',
        f'<polyline fill="none" stroke="black" points="{xy(0, 1)} {xy(0, 0)} {xy(x_max, 0)}"/>',
    ]
    for i in range(6):
        x = x_max * i / 5
        parts.append(f'<text x="{xy(x, 0).split(",")[0]}" y="{HEIGHT - PAD + 16}" '
                     f'text-anchor="middle">{x:.3g}</text>')  # fmt: skip
        y = i / 5
        parts.append(f'<text x="{PAD - 6}" y="{PAD + (1 - y) * plot_h + 4:.1f}" '
                     f'text-anchor="end">{y:.1f}</text>')  # fmt: skip
    for index, (label, values) in enumerate(series):
        if not len(values):
            continue
        ordered = np.sort(np.asarray(values, dtype=np.float64))
        step = max(1, ordered.size // 400)
        ys = np.arange(1, ordered.size + 1) / ordered.size
        points = " ".join(xy(x, y) for x, y in zip(ordered[::step], ys[::step], strict=True))
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                     f'points="{points}"/>')  # fmt: skip
        legend_y = PAD + 16 * index
        parts.append(f'<rect x="{WIDTH - PAD - 150}" y="{legend_y - 9}" width="12" height="3" '
                     f'fill="{colour}"/>')  # fmt: skip
        p99 = float(np.percentile(ordered, 99))
        parts.append(f'<text x="{WIDTH - PAD - 132}" y="{legend_y - 4}">{label} '
                     f"(p99 {p99:.3g})</text>")  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not args.results.exists():
        print(f"{args.results} not found: run benchmarks/bench_e2e.py first", file=sys.stderr)
        return 1
    results = json.loads(args.results.read_text())
    out_dir = args.results.parent
    levels = sorted(
        (r for k, r in results.items() if k.startswith("concurrency-")),
        key=lambda r: (r.get("uplink_chunk_ms", 20), r["sessions"]),
    )
    if levels:
        series = [
            (
                f"{r['sessions']} sessions, {r.get('uplink_chunk_ms', 20)} ms",
                np.asarray(r["deadline_errors_us"]) / 1000,
            )
            for r in levels
        ]
        path = out_dir / "deadline-error-cdf.svg"
        path.write_text(cdf_svg("Playout deadline error", "ms after the deadline", series))
        print(path)
    loopback = results.get("loopback")
    if loopback:
        series = [
            ("uplink latency", loopback["uplink_latency_us"]),
            ("uplink CPU / 20 ms", loopback["uplink_us"]),
        ]
        path = out_dir / "uplink-latency-cdf.svg"
        path.write_text(cdf_svg("Uplink per 20 ms frame (real time)", "µs", series))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
