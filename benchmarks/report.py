"""Tables, ratios, the linear fit of the scale table, and the plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]

    def line(items: Sequence[str]) -> str:
        return "  ".join(
            item.ljust(w) if i == 0 else item.rjust(w)
            for i, (item, w) in enumerate(zip(items, widths, strict=True))
        )

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """Least squares ``y = a + b x``: (a, b, R squared)."""
    n = len(xs)
    if n < 2:
        raise ValueError("a fit needs two points")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return a, b, 1.0 - ss_res / ss_tot if ss_tot else 1.0


def plot_scale(points: list[dict[str, Any]], fit: dict[str, Any], path: Path) -> str:
    """Draw calls and KB of the no-op plan against the org size; a message either way."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("plot skipped: matplotlib is not installed "
                "(pip install 'beeplan[bench]' or pip install matplotlib)")
    measured = [p for p in points if p.get("role") != "check"]
    checks = [p for p in points if p.get("role") == "check"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, quota, unit, fit_key in (
        (ax1, "calls", 4000, "API calls", "calls"),
        (ax2, "kb", 2048, "KB transferred", "kb"),
    ):
        xs = [p["factor"] for p in measured]
        ax.plot(xs, [p[key] for p in measured], "o", color="tab:blue",
                label="no-op plan (measured)")
        if checks:
            ax.plot([p["factor"] for p in checks], [p[key] for p in checks], "s",
                    color="tab:green", label="largest within quota (measured)")
        a, b = fit[fit_key]["a"], fit[fit_key]["b"]
        top = max(xs + [fit["largest_factor"]]) * 1.05
        ax.plot([0, top], [a, a + b * top], "-", color="tab:blue", alpha=0.4,
                label=f"linear fit ({a:.0f} + {b:.0f} x scale)")
        naive = [p for p in measured if p.get("naive_calls")]
        if key == "calls" and naive:
            ax.plot([p["factor"] for p in naive], [p["naive_calls"] for p in naive], "x",
                    color="tab:red", label="naive reconciler (measured)")
        ax.axhline(quota, color="tab:red", linestyle="--", label=f"daily quota ({quota})")
        ax.axvline(fit["largest_factor"], color="tab:green", linestyle=":",
                   label=f"largest org: x{fit['largest_factor']:.2f}")
        ax.set_xlabel("org size (x the large org's people and projects)")
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("beeplan: cost of a no-op plan against the Beebole daily quota")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written to {path}"
