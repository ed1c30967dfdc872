#!/usr/bin/env bash
# Issue 6's measurements on one GPU, in stages that each write into OUT as soon as they
# finish (a call that is cut off still returns what was done):
#   tests  every Triton test, compiled, and the blocked path's CUDA tests (~2 min)
#   speed  the mixer benchmark, fp32 and bf16, one JSON each; a profile; superblocks
#          of 256 and 1024 tokens for the Triton Cubit                     (≤ 7 min)
#   tune   launch configurations of the Triton solve (benchmarks/tune_triton.py) (≤ 5 min)
#   lm     end-to-end training tokens/s at block size 1024                 (≤ 3 min)
#   peer   fla-core's DeltaFormer against ours (it autotunes 16 configurations
#          per kernel on first use: minutes; kept apart so it costs nothing else)
#
#   bash benchmarks/gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]    (default: tests speed lm peer)
#   e.g. bash benchmarks/gpu_suite.sh "$OUT" "$(git rev-parse HEAD)" h200 tests speed lm
set -uo pipefail
out=${1:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
commit=${2:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
suffix=${3:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
shift 3
stages=${*:-tests speed lm peer}
cd "$(dirname "$0")/.."
mkdir -p "$out"

# the reference and blocked rows are measured once: results/mixer_speed_{fp32,bf16}_all_h200.json
mixers="sdpa cubit-triton cubit-triton-ieee deltaformer-triton"
peer="sdpa deltaformer-triton fla-deltaformer"

run_tests() {
    # every Triton test (the small shapes too, compiled), and the blocked path's CUDA tests
    python3 -m pytest -q -p no:cacheprovider tests/test_triton_solve.py "tests/test_blocked.py" -k "triton or cuda" \
        2>&1 | tail -30 | tee "$out/cuda_tests_$suffix.txt"
}

run_speed() {
    for dtype in fp32 bf16; do
        timeout 150 python3 benchmarks/mixer_speed.py --mixers $mixers --dtypes "$dtype" \
            --lengths 1024 2048 4096 8192 --solve-block 128 --warmup 3 --repeat 10 --git-commit "$commit" \
            --out "$out/mixer_speed_${dtype}_$suffix.json" 2>&1 | grep -v Warning | tail -50
    done
    timeout 45 python3 benchmarks/profile_mixer.py --mixer cubit-triton --length 4096 --git-commit "$commit" \
        > "$out/profile_triton_T4096_$suffix.txt" 2>&1
    for superblock in 256 1024; do  # the library's default (512) is in the runs above
        timeout 60 python3 benchmarks/mixer_speed.py --mixers sdpa cubit-triton --dtypes fp32 bf16 \
            --lengths 4096 8192 --superblock "$superblock" --warmup 3 --repeat 10 --git-commit "$commit" \
            --out "$out/mixer_speed_superblock${superblock}_$suffix.json" 2>&1 | grep -v Warning | tail -8
    done
}

run_tune() {
    timeout 300 python3 benchmarks/tune_triton.py --length 4096 --git-commit "$commit" \
        --out "$out/tune_triton_T4096_$suffix.json" 2>&1 | grep -v Warning
}

run_lm() {
    local lm="--corpus shakespeare --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1 --steps 120 --warmup 10
              --eval-interval 1000 --eval-batches 2 --block-size 1024 --batch-size 16"
    for mixer in transformer cubit; do
        local option=""
        [ "$mixer" = cubit ] && option="--mixer-option implementation=triton"
        timeout 80 python3 experiments/run_lm.py --name "speed-T1024-$mixer-$suffix" --mixers $mixer --seeds 0 \
            --parallel 1 --runs "/tmp/speed-runs-$mixer" --summary "$out/lm_speed_T1024_${mixer}_$suffix.json" \
            --git-commit "$commit" -- $lm $option 2>&1 | tail -3
    done
}

run_peer() {
    timeout 330 python3 benchmarks/mixer_speed.py --mixers $peer --dtypes bf16 fp32 --lengths 1024 4096 8192 \
        --warmup 3 --repeat 10 --git-commit "$commit" --out "$out/mixer_speed_fla_$suffix.json" 2>&1 \
        | grep -v Warning | tail -20
}

for stage in $stages; do
    case "$stage" in
        tests | tune | speed | lm | peer) echo "== $stage" && "run_$stage" ;;
        *) echo "unknown stage '$stage': choose from tests tune speed lm peer" >&2 && exit 2 ;;
    esac
done
