#!/usr/bin/env bash
# Training speed of the authors' released TF code and of idw-jax, on this machine, under their
# protocol (ML-1M, `authors_code`), with their model (d 4, 1 layer x 1 head) and the paper's
# (d 16, 2 layers x 4 heads). Prints one JSON line per model:
#   {"model", "theirs_windows_per_s", "theirs_epoch_train_s", "ours_windows_per_s",
#    "ours_epoch_train_s", "speedup_per_window", and the same for ours with one XLA CPU device
#    per core: "ours_cpu_devices", "ours_cpu_devices_windows_per_s",
#    "speedup_per_window_cpu_devices"}
# Theirs: their train.py, unchanged, for 2 epochs (run by benchmarks/authors_code/run_ml1m.sh);
# its second epoch's wall time less its validation is the training time of one epoch (the first
# includes tracing). Ours: benchmarks/train_throughput.py (warm). Their code must be set up as
# benchmarks/authors_code/README.md says (OFFICIAL, default /tmp/official); it never enters
# this repository, and this script is not part of the tests. About 15 minutes on 2 cores.
#
#   bash benchmarks/authors_side_by_side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OFFICIAL=${OFFICIAL:-/tmp/official}
TOOLS=${TOOLS:-$(pwd)/benchmarks/authors_code}
PY=${PY:-python}
cfg_dir=$OFFICIAL/multiple_user_representations/configs
[ -f "$cfg_dir/movielens_experiment.yaml" ] || { echo "error: their code is not in $OFFICIAL (see $TOOLS/README.md)" >&2; exit 2; }
# The paper's model in their yaml (their item MLP: one Dense layer, as ours with (16, 16)).
sed -e 's/input_embedding_dimension: 4/input_embedding_dimension: 16/' \
    -e 's/output_dimension: 4/output_dimension: 16/' \
    -e 's/num_mha_layers: 1/num_mha_layers: 2/' -e 's/num_mha_heads: 1/num_mha_heads: 4/' \
    "$cfg_dir/movielens_experiment.yaml" > "$cfg_dir/movielens_paper_model.yaml"
paper_model=(--set model.embed_dim=16 --set model.num_layers=2 --set model.num_heads=4
             --set 'model.item_mlp_dims=(16,16)')
for model in theirs paper; do
  if [ $model = theirs ]; then cfg=movielens_experiment; extra=(); else cfg=movielens_paper_model; extra=("${paper_model[@]}"); fi
  OFFICIAL=$OFFICIAL CFG=$cfg "$TOOLS/run_ml1m.sh" "speed_$model" \
    --retrieval_model_type=standard_retrieval --epochs=2 >&2
  ours=$($PY benchmarks/train_throughput.py --config=configs/ml1m.py:mur,authors_code \
    --repeats 3 "${extra[@]}")
  # Their TF runs its ops on every core; ours too with one XLA CPU device per core (data mesh).
  ours_cores=$(XLA_FLAGS="--xla_force_host_platform_device_count=$(nproc) ${XLA_FLAGS:-}" \
    $PY benchmarks/train_throughput.py --config=configs/ml1m.py:mur,authors_code \
    --repeats 3 "${extra[@]}")
  $PY - "$OFFICIAL/logs/speed_$model.json" "$ours" "$model" "$ours_cores" <<'EOF'
import json, sys
theirs, ours, model = json.load(open(sys.argv[1])), json.loads(sys.argv[2]), sys.argv[3]
cores = json.loads(sys.argv[4])
epoch = theirs["fits"][0]["epochs"][1]          # the second epoch: no tracing
train_s = epoch["wall_s"] - (epoch["val_s"] or 0.0)
w = ours["num_windows"]
print(json.dumps({"benchmark": "authors_side_by_side", "model": model,
                  "windows": w, "theirs_epoch_train_s": round(train_s, 2),
                  "theirs_windows_per_s": round(w / train_s),
                  "ours_epoch_train_s": ours["epoch_seconds_estimate"],
                  "ours_windows_per_s": ours["windows_per_s"],
                  "speedup_per_window": round(ours["windows_per_s"] * train_s / w, 2),
                  "ours_cpu_devices": cores["device_count"],
                  "ours_cpu_devices_windows_per_s": cores["windows_per_s"],
                  "speedup_per_window_cpu_devices": round(cores["windows_per_s"] * train_s / w, 2),
                  "device": ours.get("device_kind", ours.get("platform"))}))
EOF
done
