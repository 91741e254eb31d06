"""Pure decision rules for forecasting and ordering (the source of bullwhip).

These follow the stock-and-supply-line heuristic of Sterman (1989),
"Modeling Managerial Behavior: Misperceptions of Feedback in a Dynamic
Decision Making Experiment", Management Science 35(3): an agent orders its
expected use plus a fraction of the gap between the desired and actual
stock and supply line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HoltForecast:
    """Holt's linear exponential smoothing of a weekly series.

    Attributes:
        level: Smoothed level.
        trend: Smoothed change per week.
        alpha: Level smoothing weight.
        beta: Trend smoothing weight.
    """

    level: float
    trend: float = 0.0
    alpha: float = 0.3
    beta: float = 0.1

    def update(self, observed: float) -> None:
        """Fold one new observation into the level and trend."""
        prev = self.level
        self.level = self.alpha * observed + (1 - self.alpha) * (self.level + self.trend)
        self.trend = self.beta * (self.level - prev) + (1 - self.beta) * self.trend

    def ahead(self, weeks: float) -> float:
        """Forecast ``weeks`` ahead (never negative)."""
        return max(0.0, self.level + self.trend * weeks)


def supply_line_order(
    expected_use: float,
    desired_stock: float,
    stock: float,
    desired_supply_line: float,
    supply_line: float,
    adjust_weeks: float,
) -> float:
    """Order quantity of the stock-and-supply-line rule (never negative).

    Args:
        expected_use: Expected use (or loss) per week.
        desired_stock: Stock the agent wants on hand.
        stock: Stock on hand.
        desired_supply_line: What it wants on order, given the lead time.
        supply_line: What it has on order.
        adjust_weeks: Weeks over which it closes the gaps.

    Returns:
        ``max(0, expected_use + (gap_stock + gap_line) / adjust_weeks)``.
    """
    gap = (desired_stock - stock) + (desired_supply_line - supply_line)
    return max(0.0, expected_use + gap / adjust_weeks)


def interpolate_log(points: list[tuple[int, float]], step: float) -> float:
    """Log-linear interpolation of (step, value) points.

    Zero before the first point (e.g. before a product launch), flat after the
    last. Segments touching zero interpolate linearly.
    """
    if not points:
        return 0.0
    if step < points[0][0]:
        return 0.0
    for (s0, v0), (s1, v1) in zip(points, points[1:], strict=False):
        if s0 <= step <= s1:
            f = (step - s0) / (s1 - s0) if s1 > s0 else 1.0
            if v0 > 0 and v1 > 0:
                return v0 * (v1 / v0) ** f
            return v0 + (v1 - v0) * f
    return points[-1][1]


def extrapolate_log(points: list[tuple[int, float]], step: float) -> float:
    """Like :func:`interpolate_log`, but past the last point the last segment's growth goes on.

    For looking ahead of a path near the end of a run (a lab's next training
    run): a flat tail would read as a sudden stop in growth. The growth goes on
    for at most 104 weeks past the last point (the longest lead), flat after.
    """
    if len(points) < 2 or step <= points[-1][0]:
        return interpolate_log(points, step)
    (s0, v0), (s1, v1) = points[-2], points[-1]
    if s1 <= s0 or v0 <= 0 or v1 <= 0:
        return v1
    # at most the longest lead (104 weeks) past the end: a scenario dated far from its
    # paths then sees a flat tail, as with interpolate_log, and nothing overflows
    return v1 * (v1 / v0) ** (min(104.0, step - s1) / (s1 - s0))


def scale_path(
    path: list[tuple[int, float]], scale: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    """Multiply a (step, value) path by a log-linearly interpolated scale path.

    The result keeps the knots of both (within the path's span), so the factor
    is exact between points. Outside its knots the scale is flat at its end
    values; a scale of all ones returns the path unchanged.
    """
    if not path:
        return []
    first, last = path[0][0], path[-1][0]
    knots = sorted({s for s, _ in path} | {s for s, _ in scale if first <= s <= last})

    def factor(step: int) -> float:
        if step <= scale[0][0]:
            return scale[0][1]
        return interpolate_log(scale, step)

    return [(s, interpolate_log(path, s) * factor(s)) for s in knots]
