#!/usr/bin/env bash
# Usage: WT=/path/to/worktree VENV=/path/to/venv LOG=/tmp/loo.log nohup setsid bash benchmarks/loo_runs.sh &
# The literature study's training runs (SASRec's leave-one-out protocol on ML-1M), one at a time,
# from a worktree at a fixed commit. Every step is a grid or search over results/ml1m-loo: finished
# runs are cached (records) and unfinished ones resume from their checkpoints, so rerunning the
# script continues where it stopped. Copy results/ml1m-loo/records into main and commit them as
# runs finish.
QUEUE_LOG_NAME=loo.log . "$(dirname "$0")/queue.sh"
G="python -m idw_jax.experiments.grid --out=results/ml1m-loo"
# IDW at ML-1M's selected cell (m = 0.99, eta = 2e-4, at most 32 wake phases), each run beside its
# m = 1 control from the same pretraining (the search's --controls).
S="python -m idw_jax.experiments.search --config=configs/ml1m_loo.py --out=results/ml1m-loo --table=results/ml1m-loo/idw_controls.md --nofigure --max_iterations=32 --momenta=0.99 --etas=2e-4"
for s in 0 1 2 3 4; do
  step $G --config=configs/ml1m_loo.py:sur,sasrec --seeds=$s      # SUR at SASRec's settings
  step $G --config=configs/ml1m_loo.py --methods=sur,mur,mur_idw --seeds=$s
  step $S --methods=mur_idw --seeds=$s                            # MUR-IDW's m = 1 control
done
echo "== all done $(date -u +%FT%TZ)" >> "$LOG"
