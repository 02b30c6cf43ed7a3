# Sourced by the training queues (verdict_runs.sh, loo_runs.sh): the worktree, its venv, and
# step CMD..., which runs one grid or search niced, appending its output and exit code to $LOG.
# Usage (in a queue): QUEUE_LOG_NAME=x.log . "$(dirname "$0")/queue.sh"
cd "${WT:?set WT to a worktree at a fixed commit}" || exit 1
. "${VENV:-$WT/.venv}/bin/activate"
export PYTHONPATH=$WT
LOG=${LOG:-$WT/${QUEUE_LOG_NAME:-queue.log}}
step() {
  echo "== $(date -u +%FT%TZ) $*" >> "$LOG"
  nice -n 10 "$@" >> "$LOG" 2>&1
  echo "== rc $? $(date -u +%FT%TZ)" >> "$LOG"
}
