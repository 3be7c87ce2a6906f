"""The clean envelope of an environment: how low a clean run ever is at each step, on the
calibration seeds (``conf/seeds.yaml``), for the ``BelowEnvelope`` detectors.

    python scripts/calibrate_envelope.py env=cartpole            # 30 seeds x 500k steps, ~15 min on 2 cores
    python scripts/calibrate_envelope.py env=catch steps=100000  # ~5 min
    python scripts/calibrate_envelope.py algo=ppo env=cartpole   # PPO's own: 30 seeds x 100k (its budget)

Trains the clean agent on the ``calibration`` seed set at ``steps`` (default: the env's budget;
finished runs under ``runs/clean/<env>_<steps>/`` are reused). For the return and the explained
variance (a median over ``smooth_steps``, as the detector reads it), the envelope is the lowest
value of any calibration run at each log point, ``bucket`` points keeping their lowest; the
patience is ``margin`` x the longest stretch a calibration run spends below the envelope of the
others (:mod:`rl_lab.lab.envelope`). For the return's area so far, the reference is the runs'
median and spread at each ``bucket``-th log point, and the depth below the median that fires there
is ``area_margin`` x the deepest a calibration run was there below the others' median. The areas of
the run's own numbers that a faulty environment moves (``rl_lab.lab.envelope.AREA_CANDIDATES``:
the critic's explained variance, clipped to [-1, 1], its fit and its advantages, the policy's
entropy, the gradient's norm) are referenced the same way on their side, from ``critic_start`` x
the budget on, at every log point, with ``critic_margin``; each env keeps those that raise no
alarm in a split-half check on its calibration runs alone (``split_half_alarms``, printed by
``scripts/area_candidates.py``), so a candidate that would fire on an unseen clean seed is left
out before any other seed is read. ``critic_only=true`` refits those areas alone and keeps the written envelopes
and the return's area (with their provenance): runs retrained on another day can differ late in
training (another torch thread count reassociates sums), and what was measured with the written
thresholds (``scripts/learns_worse.py``, ``scripts/false_alarms.py``) stays true of them. Writes
``conf/envelopes/<env>.yaml`` (read by ``rl_lab.instruments.detectors.BelowEnvelope`` and
``BelowCleanArea``; ``conf/envelopes/ppo_<env>.yaml`` with ``algo=ppo``, from PPO's own clean runs,
read through ``conf/algo_diagnostics/ppo.yaml``) and prints each left-out stretch and depth. The
false-alarm rate is measured on other seeds: ``scripts/false_alarms.py``; the power to flag runs
that learn worse: ``scripts/learns_worse.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from rl_lab.lab.envelope import (
    AREA_CANDIDATES,
    area_so_far,
    calibrate,
    calibrate_area,
    side_series,
    smoothed,
    split_half_alarms,
)
from rl_lab.lab.runs import algo_overrides, clean_name, clean_specs, result_path, run_script, train_missing
from rl_lab.lab.seeds import seed_set
from rl_lab.run.config import CONFIG_DIR
from rl_lab.run.runlog import read_metrics
from rl_lab.run.training import compose_settings

ROOT = Path(__file__).resolve().parent.parent
METRICS = {"charts/return_last100": 0, "value/explained_variance": 10_000}  # metric -> smooth_steps
AREA_METRIC = "charts/return_last100"


def main() -> None:
    args = OmegaConf.merge(
        OmegaConf.create(
            {
                "algo": "a2c",
                "env": "cartpole",
                "steps": None,
                "seeds": "calibration",
                "bucket": 5,
                "margin": 2.0,
                "area_margin": 1.5,
                "critic_margin": 2.0,
                "critic_start": 0.1,
                "critic_only": False,
                "out": None,
            }
        ),
        OmegaConf.from_cli(),
    )
    algo = algo_overrides(args.algo)
    settings = compose_settings([*algo, f"env={args.env}"])
    out = result_path(CONFIG_DIR / "envelopes" / f"{clean_name(args.algo, args.env)}.yaml", args.out)
    steps = args.steps or settings.total_steps
    seeds = seed_set(args.seeds)
    specs = clean_specs(ROOT / "runs", args.algo, args.env, steps, seeds)
    trained = train_missing(specs)
    points = [read_metrics(spec.run_dir) for spec in specs]
    command = (
        f"python scripts/calibrate_envelope.py {''.join(a + ' ' for a in algo)}env={args.env} steps={steps} "
        f"margin={args.margin} "
        f"area_margin={args.area_margin} critic_margin={args.critic_margin} critic_start={args.critic_start}"
        + (" critic_only=true" if args.critic_only else "")
    )
    metrics = {}
    for metric, smooth in METRICS.items():
        envelope = calibrate([smoothed(p, metric, smooth) for p in points], args.bucket, args.margin)
        metrics[metric] = {
            "smooth_steps": smooth,
            "patience_steps": envelope.patience_steps,
            "left_out_stretches": envelope.left_out_stretches,
            "steps": envelope.steps,
            "low": envelope.low,
        }
    area_series = [area_so_far(p, AREA_METRIC) for p in points]
    time_limit = settings.env.get("max_episode_steps")
    area = calibrate_area(area_series, args.bucket, args.area_margin, time_limit)
    areas = {AREA_METRIC: vars(area)}
    start = int(args.critic_start * steps)
    rejected = {}
    for metric, (side, clip) in AREA_CANDIDATES.items():
        if metric == AREA_METRIC:
            continue  # the return's area is learns_worse's, calibrated above
        series = [side_series(p, metric, side, clip) for p in points]
        alarms = split_half_alarms(series, args.critic_margin, start, side, clip)
        if alarms:
            rejected[metric] = alarms
        else:
            areas[metric] = vars(calibrate_area(series, 1, args.critic_margin, time_limit, start, side, clip))
    critic = [metric for metric in areas if metric != AREA_METRIC]
    provenance = f"{command}: clean runs on seeds {seeds} ({args.seeds}), {steps:,} steps each"
    written = {"provenance": provenance, "metrics": metrics, "area": areas}
    if args.critic_only:
        kept = OmegaConf.to_container(OmegaConf.load(out))
        areas = {AREA_METRIC: kept["area"][AREA_METRIC], **{metric: areas[metric] for metric in critic}}
        written = {
            "provenance": f"{kept['provenance'].split('; ')[0]}; own-number areas ({', '.join(critic)}): {provenance}",
            "metrics": kept["metrics"],
            "area": areas,
        }
        metrics = kept["metrics"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Written by {command}; do not edit.\n" + OmegaConf.to_yaml(OmegaConf.create(written)))
    print(f"{trained} runs trained, {len(specs) - trained} reused under {specs[0].run_dir.parent}")
    for metric, data in metrics.items():
        print(
            f"{metric}: {len(data['steps'])} points, low from {data['low'][0]:.3g} to {data['low'][-1]:.3g}; "
            f"left-out stretches below the others' envelope {data['left_out_stretches']} steps "
            f"-> patience {data['patience_steps']:,} steps"
        )
    for metric, reference in areas.items():
        print(
            f"{metric} area so far ({reference.get('side', 'below')}): left-out depths beyond the others' median "
            f"{reference['left_out_depths']} spreads -> fires beyond {min(reference['depth']):g} to "
            f"{max(reference['depth']):g} spreads"
        )
    for metric, alarms in rejected.items():
        print(f"{metric} area left out: split in halves, it fired on {alarms} unseen calibration run(s)")
    print(f"written: {out}")


if __name__ == "__main__":
    sys.exit(run_script(main))
