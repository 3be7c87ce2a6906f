"""Look at a run's series without TensorBoard: a compact table, or a PNG plot; two runs side by side.

usage: python -m rl_lab.look RUN_DIR [other=RUN_DIR] [series=[a,b]] [points=10] [png=PATH]

    python -m rl_lab.look runs/cartpole/<run>
    python -m rl_lab.look runs/catch/<bug run> other=runs/catch/<clean run>
    python -m rl_lab.look runs/cartpole/<run> series=[grads/global_norm,policy/act_train_kl] png=look.png
    python -m rl_lab.look runs/cartpole/<run> series=list          # the names of every logged series

settings:
    run      a run directory (or the bare word)
    other    a second run, printed beside the first
    series   names from metrics.jsonl (default: return, explained variance, normalised entropy,
             gradient norm, value loss and the act/train KL, those the run logged);
             series=list prints every name the run logged
    points   how many log points the table shows, evenly spaced, the last one included
    png      also draw the series (one panel each, both runs) into this PNG file

The table ends with the detectors that fired (events.jsonl): step, detector and the series
it read, so a detector's name leads to its curve.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from rl_lab.cli import fail, parse
from rl_lab.run.config import ConfigError
from rl_lab.run.runlog import read_events, read_metrics

DEFAULT_SERIES = [
    "charts/return_last100",
    "value/explained_variance",
    "policy/entropy_normalized",
    "grads/global_norm",
    "losses/value",
    "policy/act_train_kl",  # 0 in a correct agent: what gives off_by_one_frames away (not logged with dropout)
]


@dataclass
class LookSettings:
    run: str = MISSING
    other: str | None = None
    series: Any = None  # a list of names, one name, or "list"; default: DEFAULT_SERIES the run logged
    points: int = 10
    png: str | None = None

    def __post_init__(self) -> None:
        if self.series is not None:
            self.series = [self.series] if isinstance(self.series, str) else list(self.series)
        if self.points < 1:
            raise ConfigError(f"points={self.points!r} is invalid: must be an integer >= 1")
        for run in (self.run, self.other):
            if run is not None and not (Path(run) / "metrics.jsonl").exists():
                raise ConfigError(f"{run!r} is invalid: not a run directory (no metrics.jsonl in it)")


def _cell(value: float | None) -> str:
    if value is None:
        return "·"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"


def table(runs: dict[str, list[dict]], series: list[str], points: int) -> list[str]:
    """Rows of evenly spaced log points (by the first run's steps): one column per run and series."""
    first = next(iter(runs.values()))
    steps = [p["step"] for p in first]
    picked = sorted({steps[round(i * (len(steps) - 1) / max(points - 1, 1))] for i in range(points)}) if steps else []
    by_step = {name: {p["step"]: p for p in metrics} for name, metrics in runs.items()}
    columns = [(name, key) for key in series for name in runs]
    labels = [f"{key}" + (f" [{name}]" if len(runs) > 1 else "") for name, key in columns]
    widths = [max(10, len(label)) for label in labels]
    lines = ["step".rjust(9) + "  " + "  ".join(label.rjust(w) for label, w in zip(labels, widths, strict=True))]
    for step in picked:
        cells = [_cell(by_step[name].get(step, {}).get(key)) for name, key in columns]
        lines.append(f"{step:9,d}  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    return lines


def plot(runs: dict[str, list[dict]], series: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(7, 2.2 * len(series)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], series, strict=True):
        for name, metrics in runs.items():
            points = [(p["step"], p[key]) for p in metrics if key in p]
            if points:
                ax.plot(*zip(*points, strict=True), label=name, lw=1)
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    axes[-1, 0].set_xlabel("agent steps")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse(LookSettings, sys.argv[1:] if argv is None else argv, __doc__, "rl_lab.look", ("run",))
    paths = [Path(args.run)] + ([Path(args.other)] if args.other else [])
    names = [p.name for p in paths] if len({p.name for p in paths}) == len(paths) else [str(p) for p in paths]
    runs = {name: read_metrics(path) for name, path in zip(names, paths, strict=True)}
    logged = sorted({k for metrics in runs.values() for p in metrics for k in p if k != "step"})
    if args.series == ["list"]:
        print("\n".join(logged))
        return 0
    series = args.series or [key for key in DEFAULT_SERIES if key in logged]
    unknown = [key for key in series if key not in logged]
    if unknown:
        fail("rl_lab.look", f"series {unknown[0]!r} is invalid: not logged by this run (series=list names them)")
    print("\n".join(table(runs, series, args.points)))
    for name, path in zip(names, paths, strict=True):
        fired = read_events(path)
        shown = ", ".join(f"{e['detector']} at {e['step']:,} ({e['metric']})" for e in fired[:8]) or "none"
        more = f" and {len(fired) - 8} more" if len(fired) > 8 else ""
        print(f"detectors fired in {name}: {shown}{more}")
    if args.png:
        plot(runs, series, Path(args.png))
        print(f"plot: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
