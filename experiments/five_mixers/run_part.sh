#!/usr/bin/env bash
# One call's worth of the pre-registered five-mixer comparison (experiments/five_mixers/PLAN.md) on one GPU.
#
#   run_part.sh OUT GIT_COMMIT tune RATE CELL...          Part A: each CELL at peak rate RATE, seeds 100 and 101
#   run_part.sh OUT GIT_COMMIT edge RATE CELL...          Part A: an edge rate the choice asks for, same seeds
#   run_part.sh OUT GIT_COMMIT confirm SEEDS CELL...      Part B: each CELL at its rate in choice.json; SEEDS like 0,1,2
#   run_part.sh OUT GIT_COMMIT explore SEEDS              Part C: Cubit with learned λ and LRR bounds, T = 4096
#
# A CELL is ARM:CORPUS:T, e.g. cubit-share:shakespeare:256 or transformer:python-stdlib:4096; ARM is one
# of transformer, cubit, cubit-nolrr, cubit-share, deltaformer-kk, deltaformer-qk. At most 8 runs a call
# (cells x seeds). Each grid is one experiments/run_lm.py call writing five_<label>_<arm>_<corpus>_T<T>.json;
# each stops before LIMIT seconds (default 560); the JSON files and the log are then packed into
# OUT/five_<label>.tar.gz, so a call cut short still returns what finished. SMOKE="--steps 2 ..."
# appends arguments to every run (a seconds-long CPU run for the tests; each results file records its
# full command). CODE=DIR trains with the run_lm.py and cubit_lite of DIR (the plan's frozen commit).
set -uo pipefail
usage="usage: run_part.sh OUT GIT_COMMIT {tune RATE CELL... | edge RATE CELL... | confirm SEEDS CELL... | explore SEEDS}"
out=${1:?$usage}
commit=${2:?$usage}
part=${3:?$usage}
shift 3
cd "$(dirname "$0")/../.."
code=${CODE:-.}
[ -f "$code/experiments/run_lm.py" ] && [ -d "$code/cubit_lite" ] || { echo "CODE=$code holds no experiments/run_lm.py and cubit_lite/" >&2; exit 2; }
rate_ok() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?e-[0-9]+$ ]]; }
cell_ok() { [[ $1 =~ ^(cubit-nolrr|cubit-share|deltaformer-kk|deltaformer-qk):shakespeare:256$ ]] \
            || [[ $1 =~ ^(transformer|cubit):python-stdlib:(256|4096)$ ]]; }
seeds_ok() { [[ $1 =~ ^[0-7](,[0-7])*$ ]]; }
check_cells() {
  [ $# -ge 1 ] || { echo "give at least one CELL (ARM:CORPUS:T); $usage" >&2; exit 2; }
  for c in "$@"; do cell_ok "$c" || { echo "not a cell of the plan: $c (Shakespeare at 256: cubit-nolrr, cubit-share, deltaformer-kk, deltaformer-qk, the Transformer and Cubit coming from the decisive test; python-stdlib: transformer or cubit at 256 or 4096)" >&2; exit 2; }; done
}
case "$part" in
  tune|edge) [ $# -ge 2 ] && rate_ok "$1" || { echo "$part takes a peak rate such as 2e-3, then cells; $usage" >&2; exit 2; }
             rate=$1; shift; check_cells "$@"; seeds="100 101"; label="${part}_lr$rate"
             runs=$(( 2 * $# )) ;;
  confirm) [ $# -ge 2 ] && seeds_ok "$1" || { echo "confirm takes seeds from 0-7 such as 0,1,2, then cells; $usage" >&2; exit 2; }
           seeds=${1//,/ }; shift; check_cells "$@"
           [ -f results/five_mixers/choice.json ] || { echo "no results/five_mixers/choice.json: run Part A and analyse.py choose first" >&2; exit 2; }
           label="confirm_s${seeds// /-}"; runs=$(( $(wc -w <<< "$seeds") * $# )) ;;
  explore) [ $# -eq 1 ] && [[ $1 =~ ^[0-3](,[0-3])*$ ]] || { echo "explore takes seeds from 0-3 such as 0,1; $usage" >&2; exit 2; }
           seeds=${1//,/ }; shift
           [ -f results/tuned_comparison/choice.json ] || { echo "no results/tuned_comparison/choice.json: Part C uses Cubit's rate at T = 4096 from the decisive test" >&2; exit 2; }
           label="explore_s${seeds// /-}"; runs=$(wc -w <<< "$seeds") ;;
  *) echo "unknown part $part; $usage" >&2; exit 2 ;;
esac
[ "$runs" -le 8 ] || { echo "$runs runs in one call; at most 8 run side by side (fewer cells or seeds)" >&2; exit 2; }
limit=${LIMIT:-560}
deadline=$(( $(date +%s) + limit ))
work=/tmp/five_${label}_$(date +%s)  # never a folder of an earlier call
mkdir -p "$out" "$work"
log="$work/five_${label}.log"

# PLAN.md's recipe: only the mixer (and its options), the corpus, the length and the peak rate change.
recipe=(--positions rotary --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1
        --warmup 100 --steps 2000 --eval-interval 250 --eval-batches 50)
length() { echo "--block-size $1 --batch-size $(( 16384 / $1 ))"; }
mixer_args() {  # ARM -> run_lm's --mixers value, then trainer options
  case "$1" in
    deltaformer-kk) echo "deltaformer" ;;
    deltaformer-qk) echo "deltaformer --mixer-option u_stage=qk" ;;
    *) echo "$1" ;;
  esac
}

grid() {  # grid NAME ARM CORPUS T RATE "SEEDS" [EXTRA TRAINER ARGS...]
  local name=$1 arm=$2 corpus=$3 t=$4 rate=$5 seeds=$6; shift 6
  local left=$(( deadline - $(date +%s) ))
  [ "$left" -gt 10 ] || { echo "grid $name skipped: no time left" >> "$log"; return; }
  local floor mixer options
  floor=$(python3 -c "print(float('$rate') / 10)")
  read -r mixer options <<< "$(mixer_args "$arm")"
  # shellcheck disable=SC2046,SC2086
  timeout "$left" python3 "$code/experiments/run_lm.py" --name "five-$name" --mixers "$mixer" --seeds $seeds \
      --parallel "$(wc -w <<< "$seeds")" --runs "$work/runs/$name" --summary "$work/five_${name}.json" --git-commit "$commit" \
      -- "${recipe[@]}" --corpus "$corpus" $(length "$t") --lr "$rate" --min-lr "$floor" $options "$@" ${SMOKE:-} >> "$log" 2>&1
  echo "grid $name exited $?" >> "$log"
}

{ echo "five mixers, $part $*, at commit $commit, code from $code"; date -u; nvidia-smi --query-gpu=name,driver_version --format=csv;
  python3 -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } >> "$log" 2>&1

case "$part" in
  tune|edge)
    for c in "$@"; do IFS=: read -r arm corpus t <<< "$c"; grid "${label}_${arm}_${corpus}_T$t" "$arm" "$corpus" "$t" "$rate" "$seeds" & done ;;
  confirm)
    for c in "$@"; do
      IFS=: read -r arm corpus t <<< "$c"
      r=$(python3 experiments/five_mixers/analyse.py rate "$arm" "$corpus" "$t") || exit 2
      grid "${label}_${arm}_${corpus}_T$t" "$arm" "$corpus" "$t" "$r" "$seeds" &
    done ;;
  explore)
    r=$(python3 experiments/tuned_comparison/analyse.py rate cubit 4096) || exit 2
    grid "${label}_cubit-learned_shakespeare_T4096" cubit shakespeare 4096 "$r" "$seeds" \
        --mixer-option learn_lam=true --mixer-option learn_lrr_bounds=true & ;;
esac
wait
date -u >> "$log"
grep -h "final val\|FAILED\|exited\|skipped\|Error" "$log" | tail -40
tar -C "$work" -czf "$out/five_$label.tar.gz" --exclude runs .
ls -la "$out"
