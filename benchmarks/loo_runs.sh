#!/usr/bin/env bash
# Usage: WT=/path/to/worktree VENV=/path/to/venv LOG=/tmp/loo.log nohup setsid bash benchmarks/loo_runs.sh &
# The literature study's training runs (SASRec's leave-one-out protocol on ML-1M), one at a time,
# from a worktree at a fixed commit. Every step is a grid or search over results/ml1m-loo: finished
# runs are cached (records) and unfinished ones resume from their checkpoints when the folder is
# still there, so rerunning the script continues where it stopped. Copy the records into main and
# commit them as runs finish. Each seed's paper-preset runs (about an hour on a 2-core machine)
# and SUR at SASRec's settings (2-3 hours) each fit one session; a checkpoint does not outlive
# the machine it was written on.
QUEUE_LOG_NAME=loo.log . "$(dirname "$0")/queue.sh"
G="python -m idw_jax.experiments.grid --config=configs/ml1m_loo.py"
# IDW at ML-1M's selected cell (m = 0.99, eta = 2e-4, at most 32 wake phases), each run beside its
# m = 1 control from the same pretraining on the same machine (the search's --controls).
S="python -m idw_jax.experiments.search --config=configs/ml1m_loo.py --nofigure --max_iterations=32 --momenta=0.99 --etas=2e-4 --methods=mur_idw"
O=results/ml1m-loo
# Seed 0's MUR-IDW ran on another machine than the control would: both rerun together here.
step $G --out=$O-pair0 --methods=mur --seeds=0
step $S --out=$O-pair0 --table=$O-pair0/idw_controls.md --seeds=0
for s in 1 2 3 4; do
  step $G --out=$O --methods=sur,mur,mur_idw --seeds=$s
  step $S --out=$O --table=$O/idw_controls.md --seeds=$s
done
for s in 1 2 3 4; do step $G:sur,sasrec --out=$O --seeds=$s; done   # SUR at SASRec's settings
echo "== all done $(date -u +%FT%TZ)" >> "$LOG"
