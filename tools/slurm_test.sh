#!/usr/bin/env bash
# Evaluate a checkpoint on a Slurm cluster (mmseg/mmdet conventions).
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# PYTHON overrides the interpreter (default: python).
set -e
if [ $# -lt 4 ]; then
    echo "error: expected PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]," \
         "got $# argument(s). Example: GPUS=8 tools/slurm_test.sh gpu replk" \
         "configs/upernet_replknet31b_ade20k.py work_dirs/replk/iter_160000.pth" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}

set -x
# SRUN_ARGS is split on spaces on purpose (several srun options in one string).
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    ${PYTHON:-python} -u "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
