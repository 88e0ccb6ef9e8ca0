import math
import pickle

import pytest

from mlmkit.errors import MlmkitError
from mlmkit.schedules import RateSchedule, build_schedule


def test_linear_30_to_15_as_ankner():
    schedule = build_schedule({"name": "linear", "start": 0.30, "end": 0.15})
    assert schedule(0.0) == pytest.approx(0.30)
    assert schedule(0.5) == pytest.approx(0.225)
    assert schedule(1.0) == pytest.approx(0.15)
    assert schedule(2.0) == pytest.approx(0.15)  # clamped past the end


def test_cosine_matches_mrd_formula():
    # Yang et al. MRD: p(t) = p (1 + cos(pi t)) + 0.02 with p = 0.15.
    schedule = build_schedule({"name": "cosine", "start": 0.32, "end": 0.02})
    for t in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        assert schedule(t) == pytest.approx(0.15 * (1 + math.cos(math.pi * t)) + 0.02)


def test_step_constant_and_piecewise():
    step = build_schedule({"name": "step", "start": 0.4, "end": 0.15, "switch_at": 0.5})
    assert (step(0.49), step(0.5)) == (0.4, 0.15)
    assert build_schedule(0.2)(0.7) == 0.2
    assert build_schedule({"name": "constant", "rate": 0.3})(0.9) == 0.3
    table = build_schedule({"name": "piecewise", "points": [[0, 0.4], [0.5, 0.2], [1, 0.1]]})
    assert table(0.25) == pytest.approx(0.3)
    assert table(0.75) == pytest.approx(0.15)


def test_schedule_pickles_for_dataloader_workers():
    schedule = build_schedule({"name": "linear", "start": 0.3, "end": 0.15})
    assert pickle.loads(pickle.dumps(schedule))(0.5) == schedule(0.5)


def test_user_callable_passes_through():
    def half(progress: float) -> float:
        return 0.5

    assert build_schedule(half) is half


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "linaer", "start": 0.3}, "did you mean 'linear'"),
        ({"name": "linear", "start": 1.5}, r"outside \(0, 1\]"),
        ({"name": "linear", "strat": 0.3}, "did you mean 'start'"),
        ({"name": "piecewise", "points": [[0.2, 0.3], [1, 0.1]]}, "t increasing from 0 to 1"),
        ("fast", "expected a mapping"),
    ],
)
def test_bad_specs_say_what_to_fix(spec, message):
    with pytest.raises(MlmkitError, match=message):
        build_schedule(spec)


def test_rate_schedule_is_frozen():
    with pytest.raises(Exception):
        RateSchedule("linear", 0.3, 0.15).start = 0.2  # type: ignore[misc]
