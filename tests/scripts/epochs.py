"""A training script as a user writes one for orch: it resumes from its checkpoint, trains epoch by epoch
(saving the checkpoint, then appending the epoch's loss to $ORCH_PROGRESS_FILE), and writes its final
metrics to $ORCH_RESULT_FILE. ``--log`` records "<trial> <x> <epoch>" for every epoch completed, so a test
can check that no epoch of a configuration was lost or trained twice across stops, pauses and resumes.

The loss of (x, y) after epoch e is (x^2 + y^2 + 0.1) * (1 + 2 / e): every configuration's curve falls,
and they rank the same at every epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def loss(x: float, y: float, epoch: int) -> float:
    return (x * x + y * y + 0.1) * (1.0 + 2.0 / epoch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--x", type=float, required=True)
    ap.add_argument("--y", type=float, required=True)
    ap.add_argument("--epochs", type=float, required=True)
    ap.add_argument("--sleep", type=float, default=0.3)
    ap.add_argument("--log", default="")
    a = ap.parse_args()
    ckpt = Path(os.environ["ORCH_CHECKPOINT_DIR"]) / "state.json"
    start = json.loads(ckpt.read_text())["epoch"] if ckpt.exists() else 0
    value = loss(a.x, a.y, max(start, 1))
    for epoch in range(start + 1, int(a.epochs) + 1):
        time.sleep(a.sleep)  # the epoch's training
        value = loss(a.x, a.y, epoch)
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_suffix(".tmp")
        tmp.write_text(json.dumps({"epoch": epoch}))
        os.replace(tmp, ckpt)  # the checkpoint first: an epoch reported can always be continued
        if a.log:
            with open(a.log, "a") as f:
                f.write(f"{os.environ['ORCH_TRIAL_ID']} {a.x!r} {epoch}\n")
        with open(os.environ["ORCH_PROGRESS_FILE"], "a") as f:
            f.write(json.dumps({"epoch": epoch, "loss": value}) + "\n")
    Path(os.environ["ORCH_RESULT_FILE"]).write_text(json.dumps({"loss": value}))


if __name__ == "__main__":
    main()
