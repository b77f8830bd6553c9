#!/usr/bin/env bash
# BENCHMARKS.md "Step-by-step vs baselines": SVAMP and CQA (shared train data, project dev split), a from-scratch
# tiny byte-level student, standard fine-tuning (gold) vs standard distillation (PaLM labels) vs distilling
# step-by-step (PaLM rationales + PaLM labels) at 25/50/100% of the training data.
# Usage: scripts/step-by-step-vs-baselines.sh [OUT_DIR] [STEPS]   (runs two single-thread jobs at a time)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/runs/step-by-step-vs-baselines}
steps=${2:-500}
shared=${STEPDISTILL_SHARED:-$here/../shared}
cli=${STEPDISTILL_CLI:-dotnet $here/src/StepDistill.Cli/bin/Release/net10.0/stepdistill.dll}
mkdir -p "$out"
jobs=()
for ds in svamp cqa; do
  newtok=48; [ "$ds" = cqa ] && newtok=24
  for frac in 0.25 0.5 1; do
    for cfg in "standard gold" "standard teacher" "step-by-step teacher"; do
      set -- $cfg
      name="$ds-$1-$2-$frac"
      [ -s "$out/$name.dev.json" ] && continue   # finished earlier: re-running the script resumes the grid
      # Targets are capped at 128 bytes: labels are far shorter; PaLM rationales (median ~250 bytes) are cut,
      # which keeps a step-by-step step affordable on 2 cores.
      jobs+=("$cli train --data $shared/datasets/$ds --method $1 --labels $2 --model tiny --tokenizer byte --fraction $frac --seed 0 --max-steps $steps --batch-size 16 --eval-every $steps --max-input-length 256 --max-target-length 128 --max-new-tokens $newtok --threads 1 --device cpu --out $out/$name > $out/$name.log 2>&1 && $cli evaluate --model $out/$name/best --data $shared/datasets/$ds --split dev --max-new-tokens $newtok --threads 1 --device cpu --json > $out/$name.dev.json")
    done
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c "{}"
echo "done: $out"
