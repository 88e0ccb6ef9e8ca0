"""Masking-rate schedules: training progress t in [0, 1] -> masking rate.

Two published families:
- Ankner et al. 2024 ("Dynamic Masking Rate Schedules"): linear decay 30% -> 15% is their best
  (GLUE +0.46 for BERT-base over a fixed 15%); also `step` (start until half-way, then end).
- Yang et al. 2023 (MRD, "Learning Better Masking"): cosine decay p(t) = p·(1 + cos πt) + 0.02,
  i.e. 0.32 -> 0.02 for p = 0.15. That is the `cosine` schedule with start=0.32, end=0.02.

A schedule is a small frozen dataclass (picklable, so it travels to DataLoader workers) and a
`rate(progress)` method. `build_schedule` turns the recipe/Python spec into one.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from mlmkit.errors import MlmkitError, did_you_mean

SCHEDULE_NAMES = ("constant", "linear", "cosine", "step", "piecewise")


@dataclass(frozen=True)
class RateSchedule:
    """Masking rate over training progress.

    Args:
        name: one of SCHEDULE_NAMES.
        start: rate at progress 0 (for `constant`, the rate throughout).
        end: rate at progress 1 (ignored by `constant` and `piecewise`).
        switch_at: progress at which `step` jumps from `start` to `end`.
        points: `piecewise` knots ((progress, rate), ...), linearly interpolated.
    """

    name: str = "constant"
    start: float = 0.15
    end: float = 0.15
    switch_at: float = 0.5
    points: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.name not in SCHEDULE_NAMES:
            hint = did_you_mean(self.name, SCHEDULE_NAMES)
            raise MlmkitError(f"schedule name={self.name!r}, must be one of {list(SCHEDULE_NAMES)}{hint}")
        rates = [r for _, r in self.points] if self.name == "piecewise" else [self.start, self.end]
        for rate in rates:
            if not 0.0 < rate <= 1.0:
                raise MlmkitError(f"schedule {self.name!r}: masking rate {rate} is outside (0, 1]")
        if self.name == "piecewise":
            progresses = [t for t, _ in self.points]
            if len(self.points) < 2 or progresses != sorted(progresses) or progresses[0] > 0 or progresses[-1] < 1:
                raise MlmkitError(
                    "schedule 'piecewise' needs points [[t, rate], ...] with t increasing from 0 to 1, "
                    f"got {list(self.points)}"
                )
        if not 0.0 <= self.switch_at <= 1.0:
            raise MlmkitError(f"schedule 'step': switch_at={self.switch_at} must be within [0, 1]")

    def rate(self, progress: float) -> float:
        """The masking rate at training progress `progress` (clamped to [0, 1])."""
        t = min(max(float(progress), 0.0), 1.0)
        if self.name == "constant":
            return self.start
        if self.name == "linear":
            return self.start + (self.end - self.start) * t
        if self.name == "cosine":
            return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * t))
        if self.name == "step":
            return self.start if t < self.switch_at else self.end
        knots = [p for p, _ in self.points]
        index = min(max(bisect.bisect_right(knots, t) - 1, 0), len(knots) - 2)
        (t0, r0), (t1, r1) = self.points[index], self.points[index + 1]
        return r0 if t1 == t0 else r0 + (r1 - r0) * (t - t0) / (t1 - t0)

    __call__ = rate


ScheduleSpec = Union[RateSchedule, Mapping[str, Any], float, Callable[[float], float]]


def build_schedule(spec: ScheduleSpec) -> Callable[[float], float]:
    """Turn a schedule spec into a callable progress -> rate.

    Accepts a RateSchedule, a float (constant rate), a mapping as written in a recipe
    (`{name: linear, start: 0.30, end: 0.15}`; `rate:` is an alias of `start` for constant),
    or any callable of progress (it must be picklable to reach DataLoader workers: a
    module-level function, not a lambda, when num_workers > 0).
    """
    if isinstance(spec, RateSchedule):
        return spec
    if isinstance(spec, (int, float)):
        return RateSchedule("constant", start=float(spec), end=float(spec))
    if isinstance(spec, Mapping):
        options = dict(spec)
        if "rate" in options:
            options.setdefault("start", options["rate"])
            options.setdefault("end", options.pop("rate"))
        if "points" in options:
            options["points"] = tuple((float(t), float(r)) for t, r in options["points"])
        allowed = {"name", "start", "end", "switch_at", "points"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            hint = did_you_mean(unknown[0], sorted(allowed | {"rate"}))
            raise MlmkitError(f"unknown schedule option {unknown[0]!r} in {dict(spec)}{hint}")
        return RateSchedule(**options)
    if callable(spec):
        return spec
    raise MlmkitError(
        f"schedule={spec!r}: expected a mapping like {{name: linear, start: 0.30, end: 0.15}}, "
        "a float, a RateSchedule or a callable of training progress"
    )
