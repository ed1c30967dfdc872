#!/usr/bin/env bash
# Issue 6's measurements in one GPU call: the CUDA tests of the fast paths, the mixer
# benchmark (fp32 and bf16, one JSON each), a profile of the Triton Cubit at T = 4096 and
# end-to-end training tokens/s at block size 1024. Every step has its own time limit and
# writes into OUT as soon as it is done, so a cut-off call still returns what finished;
# the limits add up to under 11 minutes (typically it takes about 6).
#
#   bash benchmarks/gpu_suite.sh OUT GIT_COMMIT [SUFFIX]     e.g. SUFFIX=h200
set -uo pipefail
out=${1:?usage: gpu_suite.sh OUT GIT_COMMIT [SUFFIX]}
commit=${2:?usage: gpu_suite.sh OUT GIT_COMMIT [SUFFIX]}
suffix=${3:-gpu}
cd "$(dirname "$0")/.."
mkdir -p "$out"

python3 -m pytest -q -p no:cacheprovider tests/test_triton_solve.py tests/test_blocked.py -k cuda \
    2>&1 | tail -15 | tee "$out/cuda_tests_$suffix.txt"

mixers="sdpa cubit cubit-blocked cubit-triton cubit-triton-tf32x3 deltaformer deltaformer-blocked deltaformer-triton fla-deltaformer"
for dtype in fp32 bf16; do
    timeout 180 python3 benchmarks/mixer_speed.py --mixers $mixers --dtypes "$dtype" \
        --lengths 1024 2048 4096 8192 --block 128 --warmup 3 --repeat 10 --git-commit "$commit" \
        --out "$out/mixer_speed_${dtype}_$suffix.json" 2>&1 | grep -v Warning | tail -50
done

timeout 45 python3 benchmarks/profile_mixer.py --mixer cubit-triton --length 4096 --git-commit "$commit" \
    > "$out/profile_triton_T4096_$suffix.txt" 2>&1

lm="--corpus shakespeare --n-layer 4 --n-head 4 --d-model 256 --dropout 0.1 --steps 120 --warmup 10
    --eval-interval 1000 --eval-batches 2 --block-size 1024 --batch-size 16"
for mixer in transformer cubit; do
    option=""
    [ "$mixer" = cubit ] && option="--mixer-option implementation=triton"
    timeout 80 python3 experiments/run_lm.py --name "speed-T1024-$mixer-$suffix" --mixers $mixer --seeds 0 \
        --parallel 1 --runs "/tmp/speed-runs-$mixer" --summary "$out/lm_speed_T1024_${mixer}_$suffix.json" \
        --git-commit "$commit" -- $lm $option 2>&1 | tail -3
done
