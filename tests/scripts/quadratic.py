"""A stand-in for a user's training script: a noisy-free quadratic of two hyperparameters.

Usage: python quadratic.py --x X --y Y [--crash-above C] [--sleep S] [--log FILE]
Writes {"loss": ..., "score": ...} (and "visible_gpu" when CUDA_VISIBLE_DEVICES names one GPU) to
$ORCH_RESULT_FILE; exits 3 (after printing to stderr) when
x > crash-above, to exercise crashed trials; appends "<trial_id> <pid>" to --log on every start.
"""

import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--y", type=float, default=0.0)
p.add_argument("--crash-above", type=float, default=None)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--log", default=None)
a = p.parse_args()
if a.log:
    with open(a.log, "a") as f:
        f.write(f"{os.environ.get('ORCH_TRIAL_ID')} {os.getpid()}\n")
if a.sleep:
    time.sleep(a.sleep)
if a.crash_above is not None and a.x > a.crash_above:
    print(f"diverged: x={a.x} is above {a.crash_above}", file=sys.stderr)
    sys.exit(3)
loss = (a.x - 0.3) ** 2 + (a.y + 0.2) ** 2
metrics = {"loss": loss, "score": -loss}
if os.environ.get("CUDA_VISIBLE_DEVICES", "").isdigit():
    metrics["visible_gpu"] = float(os.environ["CUDA_VISIBLE_DEVICES"])
with open(os.environ["ORCH_RESULT_FILE"], "w") as f:
    json.dump(metrics, f)
