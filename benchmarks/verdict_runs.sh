#!/usr/bin/env bash
# Usage: WT=/path/to/worktree VENV=/path/to/venv LOG=/tmp/verdict.log nohup setsid bash benchmarks/verdict_runs.sh &
# Every step is a grid or search over results/ml1m-verdict: finished runs are cached (records), so
# rerunning the script continues where it stopped. Copy results/ml1m-verdict/records into main and
# commit them as runs finish.
# The verdict issue's training runs (items 4 and 5), one at a time, from the worktree at a fixed commit.
QUEUE_LOG_NAME=verdict.log . "$(dirname "$0")/queue.sh"
G="python -m idw_jax.experiments.grid --config=configs/ml1m.py --out=results/ml1m-verdict"
S="python -m idw_jax.experiments.search --config=configs/ml1m.py --out=results/ml1m-verdict --table=results/ml1m-verdict/idw_search.md --nofigure --max_iterations=32"
# Item 4: calibration pairs (each IDW run scores test before and after calibration), seeds 0-4, MUR-IDW first.
for s in 0 1 2 3 4; do step $G --methods=mur,mur_idw --seeds=$s; done
# Item 5: MUR-IDW search cells without a control (13, 18, 20, 21, 25 wake phases at seed 0), rerun beside their controls from one pretraining
step $S --methods=mur_idw --seeds=0 --momenta=0.8,0.9 --etas=2e-4,3e-4,4e-4
# the selected cell's controls at seeds 0-4 (the cells are the item-4 runs)
step $S --methods=mur_idw --seeds=0-4 --momenta=0.99 --etas=2e-4
for s in 0 1 2 3 4; do step $G --methods=sur,sur_idw --seeds=$s; done
step $S --methods=sur_idw --seeds=0-4 --momenta=0.99 --etas=2e-4
step $S --methods=sur_idw --seeds=0 --momenta=0.7,0.8,0.9 --etas=1e-4,2e-4,3e-4,4e-4
step $S --methods=sur_idw --seeds=0 --momenta=0.99 --etas=1e-4
# the whole manifest and tables
step $G --methods=sur,mur,sur_idw,mur_idw --seeds=0-4
echo "== all done $(date -u +%FT%TZ)" >> "$LOG"
