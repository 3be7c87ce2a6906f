"""Where clean runs stand at the per-environment detector settings (``conf/env/*.yaml``).

    python -m rl_lab.train -m env=cartpole,catch 'seed=range(100,110)' total_steps=20000 \\
        progress=false torch_threads=1 hydra/launcher=joblib hydra.sweep.dir=multirun/calibration
    python scripts/calibrate_env_checks.py multirun/calibration

For each environment with a ``learning_check`` or ``critic_fit_after``, prints every clean seed's
return at ``learning_check.by_step`` and its median explained variance over the 10 log points
from ``critic_fit_after`` (what ``NoLearning`` and ``CriticFit`` judge), against the configured
levels. Seeds 100-109 are kept apart from the atlas's seeds 0-9, which then test the settings.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rl_lab.lab.sweep import CLEAN, load_sweep

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    jobs = [j for j in load_sweep(Path(argv[0])) if j.bug == CLEAN and not j.context]
    for env in sorted({j.env for j in jobs}):
        settings = OmegaConf.load(ROOT / "conf" / "env" / f"{env}.yaml")
        runs = sorted((j for j in jobs if j.env == env), key=lambda j: j.seed)
        print(f"{env}: {len(runs)} clean seeds ({', '.join(str(j.seed) for j in runs)})")
        check = settings.get("learning_check")
        if check:
            returns = []
            for job in runs:
                steps, values = job.series("charts/return_last100")
                returns.append(float(values[steps <= check.by_step][-1]))
            print(
                f"  return at step {check.by_step:,}: {min(returns):.3g} to {max(returns):.3g} "
                f"(median {statistics.median(returns):.3g}); no_learning fires below {check.min_return:g}"
            )
        after = settings.get("critic_fit_after")
        if after is not None:
            medians = []
            for job in runs:
                steps, values = job.series("value/explained_variance")
                window = values[(steps >= after) & np.isfinite(values)][:10]
                medians.append(float(np.median(window)))
            print(
                f"  median explained variance of 10 points from step {after:,}: {min(medians):.3g} to "
                f"{max(medians):.3g}; critic_fit fires below 0.1"
            )
        else:
            print("  critic_fit: not judged in this environment")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
