#!/usr/bin/env bash
# The accelerator benchmarks (KDE, training, evaluation at scale) in one run; one JSON line per benchmark.
#
#   bash benchmarks/gpu_suite.sh [OUT.jsonl]          (default: $OUT/gpu_suite.jsonl or ./gpu_suite.jsonl)
#
# Needs a JAX with the accelerator's plugin (e.g. `pip install -U "jax[cuda12]"`) and the ML-1M
# file under $IDW_DATA_DIR (default ../shared/data). Each benchmark has its own time limit, so a
# slow one cannot eat the rest of a short device lease; a failure is recorded and the suite goes on.
# Sizes can be lowered for a smoke test: KDE_ITEMS="2000" CLOTHING_STEPS=2 E2E_LIMIT=60 ...
set -u -o pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-.}/gpu_suite.jsonl}"
: > "$out"
KDE_ITEMS="${KDE_ITEMS:-376438 1000000}"
CLOTHING_STEPS="${CLOTHING_STEPS:-200}"
E2E_LIMIT="${E2E_LIMIT:-240}"
PY="${PYTHON:-python}"

run() {  # run LIMIT_SECONDS NAME CMD...: the command's last line (its JSON) goes to $out
  local limit="$1" name="$2"
  shift 2
  local t0=$SECONDS
  local line
  line="$(timeout "$limit" "$@" 2>/tmp/gpu_suite_err.txt | tail -n 1)"
  local rc=$?
  if [[ "$line" == "{"* ]]; then
    echo "$line" >> "$out"
  else
    printf '{"benchmark": "%s", "failed": true, "seconds": %d, "error": %s}\n' "$name" \
      $((SECONDS - t0)) "$("$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read()[-500:]))' \
      < /tmp/gpu_suite_err.txt)" >> "$out"
  fi
  echo "[gpu_suite] $name: $((SECONDS - t0)) s (rc $rc)"
}

"$PY" -c 'import jax; print("[gpu_suite] devices:", jax.devices())'
for n in $KDE_ITEMS; do
  run 120 "kde_pallas_$n" "$PY" benchmarks/kde.py --items "$n" --dim 16 --impl pallas --repeats 3
  run 120 "kde_xla_$n" "$PY" benchmarks/kde.py --items "$n" --dim 16 --impl xla --repeats 3
done
run 120 train_ml1m_paper "$PY" benchmarks/train_throughput.py --config=configs/ml1m.py:mur_idw \
  --repeats 3
run 120 train_ml1m_authors "$PY" benchmarks/train_throughput.py \
  --config=configs/ml1m.py:mur,authors_code --set train.batch_size=512 --repeats 3
run 300 train_clothing_scale "$PY" benchmarks/train_throughput.py \
  --config=configs/clothing_scale.py:mur_idw --steps "$CLOTHING_STEPS"
run "$E2E_LIMIT" end_to_end_ml1m "$PY" benchmarks/end_to_end.py --config=configs/ml1m.py:mur_idw \
  --timeout "$((E2E_LIMIT - 10))"
echo "[gpu_suite] results in $out"
