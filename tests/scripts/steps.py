"""A checkpointing training script for requeue/timeout tests: STEPS steps of SLEEP seconds each,
progress saved to $ORCH_CHECKPOINT_DIR/step.txt after every step, resumed from it on restart."""

import json
import os
import sys
import time

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
ckpt_dir = os.environ["ORCH_CHECKPOINT_DIR"]
os.makedirs(ckpt_dir, exist_ok=True)
ckpt = os.path.join(ckpt_dir, "step.txt")
start = int(open(ckpt).read()) if os.path.exists(ckpt) else 0
with open(os.path.join(os.environ["ORCH_TRIAL_DIR"], "starts.log"), "a") as f:
    f.write(f"{start} {os.environ.get('SLURM_JOB_ID', '')} {os.environ.get('SLURM_RESTART_COUNT', '0')}\n")
for i in range(start, steps):
    time.sleep(pause)
    tmp = ckpt + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(i + 1))
    os.replace(tmp, ckpt)
with open(os.environ["ORCH_RESULT_FILE"], "w") as f:
    json.dump({"loss": 1.0 / steps, "resumed_from": start, "steps": steps}, f)
