#!/usr/bin/env bash
# Usage: WT=/path/to/worktree VENV=/path/to/venv LOG=/tmp/verdict.log nohup setsid bash benchmarks/verdict_runs.sh &
# The verdict issue's training runs (items 4 and 5), one at a time, from the worktree at a fixed commit.
# Every step is a grid or search: finished runs are cached (records), so rerunning the script
# continues where it stopped. Copy each folder's records into main and commit them as runs finish.
# A control is compared only with its IDW cell rerun from the same pretraining on the same machine:
# each `search` call below runs one cell and then its m = 1 control, so a pair never spans two
# sessions' machines unless a session ends between the two (the records' `host` blocks tell).
QUEUE_LOG_NAME=verdict.log . "$(dirname "$0")/queue.sh"
M="--config=configs/ml1m.py"
G="python -m idw_jax.experiments.grid"
S="python -m idw_jax.experiments.search --nofigure"
# Item 4: calibration pairs (each IDW run scores test before and after calibration), seeds 0-4,
# beside the selected cell's m = 1 control from the same pretraining.
O=results/ml1m-verdict
for s in 0 1 2 3 4; do step $G $M --out=$O --methods=mur,mur_idw --seeds=$s; done
for s in 0 1 2 3 4; do
  step $G $M --out=$O --methods=sur,sur_idw --seeds=$s
  step $S $M --out=$O --table=$O/idw_search.md --max_iterations=32 --methods=sur_idw --seeds=$s --momenta=0.99 --etas=2e-4
done
# Item 5: the search cells (seed 0) that had no control, each rerun beside its control.
O=results/ml1m-verdict-cells
step $G $M --out=$O --methods=mur,sur --seeds=0
for m in 0.9 0.8; do for e in 4e-4 2e-4 3e-4; do
  step $S $M --out=$O --table=$O/idw_search.md --max_iterations=32 --methods=mur_idw --seeds=0 --momenta=$m --etas=$e
done; done
for c in 0.99:1e-4 0.9:4e-4 0.9:3e-4 0.9:2e-4 0.9:1e-4 0.8:4e-4 0.8:2e-4 0.8:1e-4 0.7:3e-4 0.7:1e-4; do
  step $S $M --out=$O --table=$O/idw_search.md --max_iterations=32 --methods=sur_idw --seeds=0 --momenta=${c%:*} --etas=${c#*:}
done
# ... the M ablation's IDW runs (Fig. 6 rests on M = 1 and 8; M = 5 is the selected cell)
O=results/ml1m-verdict-m
for k in 1 8; do
  step $G $M --out=$O --methods=mur --seeds=0 --config.model.num_interests=$k
  step $S $M --out=$O --table=$O/idw_search.md --max_iterations=32 --methods=mur_idw --seeds=0 --momenta=0.99 --etas=2e-4 --config.model.num_interests=$k
done
# ... and the Clothing stand-in's re-weighting runs (m 0.9, eta 4e-4, 8 wake phases; at ML-1M's
# cell no wake phase runs there, so those need no control)
O=results/clothing-2014-standin-pairs
C="--config=configs/clothing_standin.py"
for s in 0 1 2; do
  step $G $C --out=$O --methods=mur --seeds=$s
  step $S $C --out=$O --table=$O/idw_search.md --max_iterations=8 --methods=mur_idw --seeds=$s --momenta=0.9 --etas=4e-4
done
echo "== all done $(date -u +%FT%TZ)" >> "$LOG"
