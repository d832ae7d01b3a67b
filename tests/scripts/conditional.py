"""A stand-in for a training script with a conditional hyperparameter (momentum only for sgd).

Usage: python conditional.py --lr LR --optimizer {adam,sgd} [--momentum M] [--crash-above LR]
argparse rejects ``--momentum`` without a value, as a real script would; writes {"loss": ...}.
"""

import argparse
import json
import math
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--optimizer", choices=["adam", "sgd"], required=True)
p.add_argument("--momentum", type=float, default=None)
p.add_argument("--crash-above", type=float, default=None)
a = p.parse_args()
if a.optimizer == "sgd" and a.momentum is None:
    print("sgd needs --momentum", file=sys.stderr)
    sys.exit(2)
if a.crash_above is not None and a.lr > a.crash_above:
    print(f"RuntimeError: loss is NaN at lr={a.lr}", file=sys.stderr)
    sys.exit(1)
loss = (math.log10(a.lr) + 2.5) ** 2 + (0.3 if a.optimizer == "adam" else (a.momentum - 0.8) ** 2)
with open(os.environ["ORCH_RESULT_FILE"], "w") as f:
    json.dump({"loss": loss, "momentum_used": -1.0 if a.momentum is None else a.momentum}, f)
