#!/usr/bin/env bash
# The training jobs on a real GPU, run the way a user runs them: `orch tune` with the local executor
# (each trial its own worker process, the GPU given through CUDA_VISIBLE_DEVICES), then the per-trial
# metrics, seconds per epoch, peak GPU memory and GPU-hours from each study's trials.csv.
#
#   bash tests/scripts/gpu_check.sh            # needs a GPU; ORCH_DATASETS and MODEL as below
#   SMALL=1 bash tests/scripts/gpu_check.sh    # a few hundred rows, one epoch: a dry run on a CPU
#
# MODEL: a local transformer folder (default: .gpu/minilm, e.g. the minilm package's model saved in
# fp16, which also checks that a half-precision checkpoint is trained in fp32 under autocast).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
ROOT=$OUT/results
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
export ORCH_DATASETS=${ORCH_DATASETS:-$PWD/.gpu/datasets}
MODEL=${MODEL:-$PWD/.gpu/minilm}
ORCH=${ORCH:-python3 -m orchestrator.cli}
if [ -n "${SMALL:-}" ]; then
  TEXT=(--subsample 300 -o eval_rows=100); TOK=(--subsample 200 -o eval_rows=100); IMG=(--subsample 500)
  EP=1
else
  TEXT=(--subsample 20000); TOK=(); IMG=(); EP=3
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__,
'| cuda', torch.cuda.is_available(), '| bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())"

study() {
  local name=$1; shift
  local start=$SECONDS
  $ORCH tune --root "$ROOT" --study "$name" --strategy default --seed 0 "$@" 2>&1 | tail -4
  echo "== $name: $((SECONDS - start)) s wall"
}
study sst2-minilm --job text-classification --data sst2 --model "$MODEL" --trials 2 --fix epochs=3 "${TEXT[@]}"
study conll-minilm --job token-classification --data conll2003 --model "$MODEL" --trials 2 --fix epochs=3 \
  --fix warmup_steps=0 "${TOK[@]}"
study mnist-cnn --job cnn --data mnist --trials 4 --parallel 2 --epochs "$EP" "${IMG[@]}"
study agnews-bilstm --job bilstm-attention --data ag_news --trials 2 --epochs "$EP"

python3 - "$ROOT" <<'EOF'
import csv, sys
from pathlib import Path
cols = ["trial_id", "status", "objective", "m:seconds_per_epoch", "m:gpu_memory_gb", "gpu_hours", "wall_seconds",
        "m:epochs", "hp:learning_rate", "hp:batch_size"]
for f in sorted(Path(sys.argv[1]).glob("studies/*/trials.csv")):
    rows = list(csv.DictReader(open(f)))
    print(f"\n{f.parent.name}")
    print("  ".join(c.removeprefix("m:").removeprefix("hp:") for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, ""))[:10] for c in cols))
        if r.get("status") != "SUCCESS":
            print("   error:", (r.get("error") or "")[-600:])
EOF
