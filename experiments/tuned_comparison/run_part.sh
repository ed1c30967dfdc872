#!/usr/bin/env bash
# One call's worth of the pre-registered tuned comparison (experiments/tuned_comparison/PLAN.md) on one GPU.
#
#   bash experiments/tuned_comparison/run_part.sh OUT GIT_COMMIT tune RATE            Part 1: both arms, both lengths
#   bash experiments/tuned_comparison/run_part.sh OUT GIT_COMMIT edge ARM T RATE      Part 1: one more rate for one cell
#   bash experiments/tuned_comparison/run_part.sh OUT GIT_COMMIT confirm SEED...      Parts 2-3: the rates of choice.json
#
# Every grid is one `experiments/run_lm.py` call writing tuned_<label>_<arm>_T<T>.json; the grids
# of a call run side by side, two runs each (eight at once in a tune call). Each stops before LIMIT seconds (default 560), and the call's JSON
# files and log are then packed into OUT/tuned_<label>.tar.gz, so a call cut short still returns
# what finished (run_lm.py rewrites its summary after every run). SMOKE="--steps 2 ..." appends
# arguments to every run (the tests use it for a seconds-long run on the CPU; each results file
# records its full command, so a smoke run cannot pass for a real one). CODE=DIR trains with the
# run_lm.py and cubit_lite of DIR (a `git archive` of the plan's training commit), not this tree's.
set -uo pipefail
usage="usage: run_part.sh OUT GIT_COMMIT {tune RATE | edge ARM T RATE | confirm SEED...}"
out=${1:?$usage}
commit=${2:?$usage}
part=${3:?$usage}
shift 3
cd "$(dirname "$0")/../.."
code=${CODE:-.}
[ -f "$code/experiments/run_lm.py" ] && [ -d "$code/cubit_lite" ] || { echo "CODE=$code holds no experiments/run_lm.py and cubit_lite/" >&2; exit 2; }
rate_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?e-[0-9]+$ ]]; }
case "$part" in
  tune) [ $# -eq 1 ] && rate_ok "$1" || { echo "tune takes one peak rate such as 2e-3; $usage" >&2; exit 2; }
        label="tune_lr$1" ;;
  edge) [ $# -eq 3 ] && [[ $1 =~ ^(transformer|cubit)$ ]] && [[ $2 =~ ^(256|4096)$ ]] && rate_ok "$3" \
          || { echo "edge takes ARM (transformer or cubit), T (256 or 4096) and a rate such as 1.6e-2; $usage" >&2; exit 2; }
        label="edge_lr${3}" ;;
  confirm) [ $# -ge 1 ] || { echo "confirm takes the seeds to run; $usage" >&2; exit 2; }
           for s in "$@"; do [[ $s =~ ^([0-9]|1[0-5])$ ]] || { echo "confirmation seeds are 0-15; got $s" >&2; exit 2; }; done
           [ -f results/tuned_comparison/choice.json ] || { echo "no results/tuned_comparison/choice.json: run Part 1 and analyse.py choose first" >&2; exit 2; }
           label="confirm_s$(IFS=-; echo "$*")" ;;
  *) echo "unknown part $part; $usage" >&2; exit 2 ;;
esac
limit=${LIMIT:-560}
deadline=$(( $(date +%s) + limit ))
work=/tmp/tuned_${label}_$(date +%s)  # never a folder of an earlier call
mkdir -p "$out" "$work"
log="$work/tuned_${label}.log"

# PLAN.md's recipe: only --mixer, the length and the peak rate change between runs.
recipe=(--corpus shakespeare --positions rotary --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1
        --warmup 100 --steps 2000 --eval-interval 250 --eval-batches 50)
length() { echo "--block-size $1 --batch-size $(( 16384 / $1 ))"; }

grid() {  # grid ARM T RATE "SEEDS"
    local arm=$1 t=$2 rate=$3 seeds=$4 name="${label}_$1_T$2"
    local left=$(( deadline - $(date +%s) ))
    [ "$left" -gt 10 ] || { echo "grid $name skipped: no time left" >> "$log"; return; }
    local floor
    floor=$(python3 -c "print(float('$rate') / 10)")
    # shellcheck disable=SC2046,SC2086
    timeout "$left" python3 "$code/experiments/run_lm.py" --name "tuned-$name" --mixers "$arm" --seeds $seeds \
        --parallel 2 --runs "$work/runs/$name" --summary "$work/tuned_${name}.json" --git-commit "$commit" \
        -- "${recipe[@]}" $(length "$t") --lr "$rate" --min-lr "$floor" ${SMOKE:-} >> "$log" 2>&1
    echo "grid $name exited $?" >> "$log"
}

{ echo "tuned comparison, $part $*, at commit $commit, code from $code"; date -u; nvidia-smi --query-gpu=name,driver_version --format=csv;
  python3 -c "import sys, torch, triton; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"; } >> "$log" 2>&1

# The longest runs start first (Cubit at 4096, then Cubit at 256, then the Transformer).
case "$part" in
  tune)
    for cell in "cubit 4096" "cubit 256" "transformer 4096" "transformer 256"; do
        # shellcheck disable=SC2086
        grid $cell "$1" "100 101" &
    done ;;
  edge)
    grid "$1" "$2" "$3" "100 101" & ;;
  confirm)
    seeds="$*"
    for cell in "cubit 4096" "cubit 256" "transformer 4096" "transformer 256"; do
        read -r arm t <<< "$cell"
        rate=$(python3 experiments/tuned_comparison/analyse.py rate "$arm" "$t") || exit 2
        grid "$arm" "$t" "$rate" "$seeds" &
    done ;;
esac
wait
date -u >> "$log"
grep -h "final val\|FAILED\|exited\|skipped\|Error" "$log" | tail -40
tar -C "$work" -czf "$out/tuned_$label.tar.gz" --exclude runs .
ls -la "$out"
