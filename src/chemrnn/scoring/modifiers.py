"""Modifiers: turn a raw property (logP 2.7, similarity 0.41, SA 3.1 …) into a desirability in [0, 1].

The shapes are those of the goal-directed benchmarks (GuacaMol's ``ScoreModifier`` family, Brown et al. 2019) and
REINVENT's score transformations (Blaschke et al. 2020): a window with soft edges, a Gaussian around a target, a
(reverse) sigmoid between two values, a step, and a linear ramp clipped to [0, 1]. Each modifier is a pure function
of a NumPy array; NaN (no value) maps to 0.
"""
from __future__ import annotations

import numpy as np

from .. import validate as v
from ..errors import InputError


def _nan_to_zero(fn):
    def wrapped(x):
        x = np.asarray(x, dtype=float)
        out = fn(np.nan_to_num(x, nan=0.0))
        return np.where(np.isnan(x), 0.0, np.clip(out, 0.0, 1.0))

    return wrapped


def identity():
    """The raw value, clipped to [0, 1] (for components that already are scores: QED, similarity, p(active))."""
    return _nan_to_zero(lambda x: x)


def sigmoid(low: float, high: float, k: float = 10.0):
    """Rises from ~0 at ``low`` to ~1 at ``high``: ``1 / (1 + exp(-k (x - mid) / (high - low)))``."""
    if high == low:
        raise InputError("sigmoid modifier: high must differ from low")
    mid, span = (low + high) / 2, high - low
    return _nan_to_zero(lambda x: 1.0 / (1.0 + np.exp(-k * (x - mid) / span)))


def reverse_sigmoid(low: float, high: float, k: float = 10.0):
    """Falls from ~1 at ``low`` to ~0 at ``high`` (e.g. SA score: lower is better)."""
    up = sigmoid(low, high, k)
    return _nan_to_zero(lambda x: 1.0 - up(x))


def gaussian(mu: float, sigma: float):
    """``exp(-(x - mu)² / (2 sigma²))``: 1 at the target value ``mu``."""
    if sigma <= 0:
        raise InputError("gaussian modifier: sigma must be > 0")
    return _nan_to_zero(lambda x: np.exp(-0.5 * ((x - mu) / sigma) ** 2))


def min_gaussian(mu: float, sigma: float):
    """1 at and below ``mu``, a Gaussian decay above it (GuacaMol's MinGaussianModifier)."""
    g = gaussian(mu, sigma)
    return _nan_to_zero(lambda x: np.where(x <= mu, 1.0, g(x)))


def max_gaussian(mu: float, sigma: float):
    """1 at and above ``mu``, a Gaussian decay below it (GuacaMol's MaxGaussianModifier)."""
    g = gaussian(mu, sigma)
    return _nan_to_zero(lambda x: np.where(x >= mu, 1.0, g(x)))


def window(low: float, high: float, decay: float = 0.0):
    """1 inside ``[low, high]``; outside, 0 (``decay`` 0) or ``exp(-(distance / decay)²)``."""
    if high < low:
        raise InputError("window modifier: high must be >= low")

    def f(x):
        d = np.maximum(low - x, 0) + np.maximum(x - high, 0)
        return np.exp(-((d / decay) ** 2)) if decay > 0 else (d == 0).astype(float)

    return _nan_to_zero(f)


def step(threshold: float, above: bool = True):
    """1 where ``x >= threshold`` (``above``) or ``x <= threshold`` (not ``above``), else 0."""
    return _nan_to_zero(lambda x: (x >= threshold if above else x <= threshold).astype(float))


def clipped(lower_x: float, upper_x: float):
    """A linear ramp from 0 at ``lower_x`` to 1 at ``upper_x`` (either order), clipped (GuacaMol's ClippedScore)."""
    if upper_x == lower_x:
        raise InputError("clipped modifier: upper_x must differ from lower_x")
    return _nan_to_zero(lambda x: (x - lower_x) / (upper_x - lower_x))


def threshold(threshold: float):
    """``min(x / threshold, 1)``: full marks from ``threshold`` up (GuacaMol's ThresholdedLinearModifier)."""
    if threshold <= 0:
        raise InputError("threshold modifier: threshold must be > 0")
    return _nan_to_zero(lambda x: np.minimum(x / threshold, 1.0))


MODIFIERS = {f.__name__: f for f in (identity, sigmoid, reverse_sigmoid, gaussian, min_gaussian, max_gaussian,
                                     window, step, clipped, threshold)}


def make_modifier(spec: dict | str | None):
    """A modifier from its config, ``{"type": "window", "low": 1, "high": 3}`` or a bare name; unknown names or
    parameters are refused with the valid ones listed."""
    import inspect

    if spec is None:
        return identity()
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = spec.pop("type", None)
    if kind not in MODIFIERS:
        raise InputError(f"unknown modifier {kind!r}; choose one of {', '.join(MODIFIERS)}")
    params = inspect.signature(MODIFIERS[kind]).parameters
    bad = set(spec) - set(params)
    if bad:
        raise InputError(f"modifier {kind}: unknown parameter(s) {', '.join(sorted(bad))}; "
                         f"valid: {', '.join(params) or 'none'}")
    # every parameter is a number but ``above`` (true or false)
    rules = {p: v.flag() if isinstance(q.default, bool) else v.number() for p, q in params.items()}
    found = v.table_problems(spec, rules, f"modifier {kind}: ")
    if found:
        raise InputError("; ".join(found))
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and p not in spec]
    if missing:
        raise InputError(f"modifier {kind}: missing parameter(s) {', '.join(missing)}")
    return MODIFIERS[kind](**spec)
