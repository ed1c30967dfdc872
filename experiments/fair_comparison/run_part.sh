#!/usr/bin/env bash
# One part of the pre-registered fair comparison (experiments/fair_comparison/PLAN.md) on one GPU.
#
#   bash experiments/fair_comparison/run_part.sh OUT GIT_COMMIT PART      (PART: A, B, C, or F, G of FOLLOWUP.md)
#
# Each grid is one `experiments/run_lm.py` call writing fair_<PART>_<grid>.json; the grids
# of a part run side by side on the GPU. Every grid stops by itself before LIMIT seconds
# (default 540), and the part's JSON files and log are then packed into
# OUT/fair_<PART>.tar.gz, so a call cut short still returns what finished (run_lm.py
# rewrites its summary after every run).
set -uo pipefail
out=${1:?usage: run_part.sh OUT GIT_COMMIT PART}
commit=${2:?usage: run_part.sh OUT GIT_COMMIT PART}
part=${3:?usage: run_part.sh OUT GIT_COMMIT PART}
limit=${LIMIT:-540}
deadline=$(( $(date +%s) + limit ))
cd "$(dirname "$0")/../.."
work=/tmp/fair_$part
mkdir -p "$out" "$work"
log="$work/fair_${part}.log"

# The recipe of PLAN.md: only --mixer (and the grids' length, corpus or rate) change.
recipe=(--corpus shakespeare --positions rotary --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1
        --lr 1e-3 --min-lr 1e-4 --warmup 100 --steps 1000 --eval-interval 200 --eval-batches 50)
t256=(--block-size 256 --batch-size 64)
t4096=(--block-size 4096 --batch-size 4)

grid() {  # grid NAME PARALLEL "MIXERS" "SEEDS" TRAIN_ARGS...
    local name=$1 parallel=$2 mixers=$3 seeds=$4
    shift 4
    local left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 10 ] || { echo "grid $name skipped: no time left" >> "$log"; return; }
    # shellcheck disable=SC2086
    timeout "$left" python3 experiments/run_lm.py --name "fair-$part-$name" --mixers $mixers --seeds $seeds \
        --parallel "$parallel" --runs "$work/runs/$name" --summary "$work/fair_${part}_${name}.json" \
        --git-commit "$commit" -- "${recipe[@]}" "$@" >> "$log" 2>&1
    echo "grid $name exited $?" >> "$log"
}

lr_check() {  # PLAN.md "Learning-rate check": T = 4096, seed 0, peak rates 5e-4, 1e-3, 2e-3
    for lr in 5e-4 1e-3 2e-3; do
        min_lr=$(python3 -c "print($lr / 10)")
        grid "lr${lr}_T4096" 2 "transformer cubit" "0" "${t4096[@]}" --lr "$lr" --min-lr "$min_lr"
    done
}

{ echo "part $part at commit $commit"; date -u; nvidia-smi --query-gpu=name,driver_version --format=csv;
  python3 -c "import sys, torch, triton; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"; } >> "$log" 2>&1

case "$part" in
  A)
    grid T256 2 "transformer cubit" "0 1 2 3" "${t256[@]}" &
    grid T4096 2 "transformer cubit" "0 1 2 3" "${t4096[@]}" &
    lr_check &
    ;;
  B)
    grid T256 2 "transformer cubit" "4 5 6 7" "${t256[@]}" &
    grid T4096 2 "transformer cubit" "4 5 6 7" "${t4096[@]}" &
    grid stdlib_T4096 2 "transformer cubit" "0 1 2 3" "${t4096[@]}" --corpus python-stdlib &
    ;;
  C)
    grid share_T256 1 "cubit-share" "0 1 2 3" "${t256[@]}" &
    grid share_T4096 1 "cubit-share" "0 1 2 3" "${t4096[@]}" &
    grid unrotated_T256 1 "cubit" "0 1 2 3" "${t256[@]}" --mixer-option rotate_references=false &
    grid unrotated_T4096 1 "cubit" "0 1 2 3" "${t4096[@]}" --mixer-option rotate_references=false &
    ;;
  F)  # FOLLOWUP.md: the Transformer at peak rate 2e-3
    grid followup_T256 2 "transformer" "0 1 2 3" "${t256[@]}" --lr 2e-3 --min-lr 2e-4 &
    grid followup_T4096 2 "transformer" "0 1 2 3" "${t4096[@]}" --lr 2e-3 --min-lr 2e-4 &
    ;;
  G)  # FOLLOWUP.md: Cubit at peak rate 2e-3 at T = 256, seeds 0 and 1
    grid followup_cubit_T256 2 "cubit" "0 1" "${t256[@]}" --lr 2e-3 --min-lr 2e-4 &
    ;;
  *)
    echo "unknown part $part; choose A, B, C, F or G" >&2
    exit 2
    ;;
esac
wait
date -u >> "$log"
grep -h "final val\|FAILED\|exited\|Error" "$log" | tail -40
tar -C "$work" -czf "$out/fair_$part.tar.gz" --exclude runs .
ls -la "$out"
