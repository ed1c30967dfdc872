#!/usr/bin/env bash
# The Triton solve's measurements on one GPU, in stages that each write into OUT as soon as
# they finish (a call that is cut off still returns what was done):
#   tests    every Triton test, compiled, and the blocked path's CUDA tests
#   speed    the mixer benchmark (8 heads × 64, 16k tokens a batch, median of 15 after 5
#            warm-ups, T = 256…8192, error vs float64 beside each row), fp32 and bf16 in one
#            JSON each, and profiles of the Triton Cubit (bf16 at T = 1024 and 4096, fp32 at 4096)
#   tune     launch configurations of the Triton solve (benchmarks/tune_triton.py)
#   step     whole training steps at T = 1024, batch 16: 4×256 and 12×768, transformer and
#            cubit, eager / CUDA graph / compiled + CUDA graph (benchmarks/profile_lm_step.py)
#   peer     fla-core's DeltaFormer against ours (it autotunes 16 configurations per kernel
#            on first use: minutes; kept apart so it costs nothing else)
#
#   bash benchmarks/gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]    (default: tests speed step)
#   e.g. bash benchmarks/gpu_suite.sh "$OUT" "$(git rev-parse HEAD)" h200 tests speed step
set -uo pipefail
out=${1:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
commit=${2:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
suffix=${3:?usage: gpu_suite.sh OUT GIT_COMMIT SUFFIX [STAGE ...]}
shift 3
stages=${*:-tests speed step}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONUNBUFFERED=1
# The benchmarks import cubit_lite as an installed package; on a machine where it is not
# installed, this checkout's copy is the one they import.
python3 -c "import cubit_lite" 2>/dev/null || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# cubit-triton: the library's default; cubit-triton-before: the configuration it replaced;
# precisions: the other tile precisions, for bf16 inputs
mixers="sdpa cubit-triton cubit-triton-before deltaformer-triton"
precisions="cubit-triton-tf32 cubit-triton-bf16-logits"
peer="sdpa deltaformer-triton fla-deltaformer"

run_tests() {
    # every Triton test (the small shapes too, compiled), and the blocked path's CUDA tests;
    # the whole log is kept (-rA lists every outcome; the first failure's traceback stays)
    { echo "# git_commit $commit; $(python3 -c 'import torch, triton; print("torch", torch.__version__, "triton", triton.__version__, torch.cuda.get_device_name())')"
      python3 -m pytest -q -p no:cacheprovider --noconftest tests/test_triton_solve.py "tests/test_blocked.py" \
        -k "triton or cuda" -rA --tb=short 2>&1; } > "$out/cuda_tests_$suffix.txt"
    tail -3 "$out/cuda_tests_$suffix.txt"
}

run_speed() {
    local common="--lengths 256 512 1024 2048 4096 8192 --warmup 5 --repeat 15 --git-commit $commit"
    timeout 150 python3 benchmarks/mixer_speed.py --mixers $mixers --dtypes fp32 $common \
        --out "$out/mixer_speed_fp32_$suffix.json" 2>&1 | grep -v Warning | grep "cubit-triton \|sdpa"
    timeout 150 python3 benchmarks/mixer_speed.py --mixers $mixers $precisions --dtypes bf16 $common \
        --out "$out/mixer_speed_bf16_$suffix.json" 2>&1 | grep -v Warning | grep "cubit-triton \|sdpa"
    for case in "bf16 1024" "bf16 4096" "fp32 4096"; do
        set -- $case
        timeout 40 python3 benchmarks/profile_mixer.py --mixer cubit-triton --dtype "$1" --length "$2" \
            --git-commit "$commit" > "$out/profile_triton_$1_T$2_$suffix.txt" 2>&1
    done
}

run_tune() {
    timeout 100 python3 benchmarks/tune_triton.py --lengths 4096 --knobs grad warps_row_lse superblock \
        --git-commit "$commit" --out "$out/tune_triton_T4096_$suffix.json" 2>&1 | grep -v Warning | grep "best\|Error"
}

run_step() {
    for width in "4 4 256" "12 12 768"; do
        set -- $width
        timeout 160 python3 benchmarks/profile_lm_step.py --mixers transformer cubit --modes eager graph compile-graph \
            --mixer-option implementation=triton --n-layer "$1" --n-head "$2" --d-model "$3" --block-size 1024 \
            --batch-size 16 --git-commit "$commit" --out "$out/lm_step_${1}x${3}_T1024_$suffix.json" \
            > "$out/lm_step_${1}x${3}_T1024_$suffix.txt" 2>&1
        grep "median step\|fastest\|error\|heads, d_model" "$out/lm_step_${1}x${3}_T1024_$suffix.txt"
    done
}

run_peer() {
    timeout 330 python3 benchmarks/mixer_speed.py --mixers $peer --dtypes bf16 fp32 \
        --lengths 1024 4096 8192 --warmup 3 --repeat 10 --git-commit "$commit" --out "$out/mixer_speed_fla_$suffix.json" \
        2>&1 | grep -v Warning | tail -20
}

for stage in $stages; do
    case "$stage" in
        tests | tune | speed | step | peer) echo "== $stage" && "run_$stage" ;;
        *) echo "unknown stage '$stage': choose from tests tune speed step peer" >&2 && exit 2 ;;
    esac
done
