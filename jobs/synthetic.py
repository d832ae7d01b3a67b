"""branin: the classic two-dimensional synthetic HPO benchmark, evaluated instantly.

Not a training job: it exists to measure orch itself (controller overhead, scheduler throughput,
fault handling) without training noise. ``--sleep SECONDS`` (job option ``sleep``) makes each trial
take that long. Minimum 0.397887 at (-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
"""

from __future__ import annotations

import math
import time
from typing import Any

from jobs.context import JobContext


def branin(x1: float, x2: float) -> float:
    b, c, r, s, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def task_features(options: dict[str, Any]) -> dict[str, Any]:
    return {"dimensions": 2, "modality": "synthetic", "family": "branin"}


def run(config: dict[str, Any], budget: float | None, ctx: JobContext) -> dict[str, float]:
    pause = float(ctx.options.get("sleep", 0) or 0)
    if pause > 0:
        time.sleep(pause)
    return {"loss": branin(float(config["x1"]), float(config["x2"]))}
