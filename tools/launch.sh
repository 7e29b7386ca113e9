#!/usr/bin/env bash
# The one body of tools/{dist,slurm}_{train,test}.sh (mmseg/mmdet conventions):
#   dist  train CONFIG GPUS [train.py args...]
#   dist  test  CONFIG CHECKPOINT GPUS [test.py args...]
#   slurm train PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
#   slurm test  PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# dist: torch.distributed.run; multi-node: run once per node with NNODES,
#   NODE_RANK, MASTER_ADDR (node 0's address) and PORT. Without GPUs the
#   processes use gloo.
# slurm: srun, one task per GPU; GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK
#   (5) and SRUN_ARGS (split on spaces: several srun options).
# PYTHON overrides the interpreter (default: python).
set -e
LAUNCHER=$1
TOOL=$2
shift 2
DIR=$(dirname "$0")
CFG=configs/upernet_replknet31b_ade20k.py
case "$LAUNCHER $TOOL" in
    "dist train") NAMES="CONFIG GPUS" EXAMPLE="$CFG 8" ;;
    "dist test") NAMES="CONFIG CHECKPOINT GPUS" EXAMPLE="$CFG iter_160000.pth 8" ;;
    "slurm train") NAMES="PARTITION JOB_NAME CONFIG WORK_DIR"
        EXAMPLE="gpu replk $CFG work_dirs/replk" ;;
    "slurm test") NAMES="PARTITION JOB_NAME CONFIG CHECKPOINT"
        EXAMPLE="gpu replk $CFG work_dirs/replk/iter_160000.pth" ;;
    *) echo "error: expected {dist|slurm} {train|test}, got '$LAUNCHER $TOOL'" >&2
        exit 2 ;;
esac
N=$(echo $NAMES | wc -w)
if [ $# -lt "$N" ]; then
    echo "error: expected $NAMES [$TOOL.py args...], got $# argument(s)." \
         "Example: tools/${LAUNCHER}_$TOOL.sh $EXAMPLE" >&2
    exit 2
fi
export PYTHONPATH="$DIR/..":$PYTHONPATH
if [ "$LAUNCHER" = dist ]; then
    exec ${PYTHON:-python} -m torch.distributed.run \
        --nnodes=${NNODES:-1} \
        --node_rank=${NODE_RANK:-0} \
        --master_addr=${MASTER_ADDR:-127.0.0.1} \
        --nproc_per_node=${!N} \
        --master_port=${PORT:-29500} \
        "$DIR/$TOOL.py" "${@:1:N-1}" --launcher pytorch "${@:N+1}"
fi
if [ "$TOOL" = train ]; then TARGET="--work-dir=$4"; else TARGET=$4; fi
set -x
srun -p "$1" \
    --job-name="$2" \
    --gres=gpu:${GPUS_PER_NODE:-8} \
    --ntasks=${GPUS:-8} \
    --ntasks-per-node=${GPUS_PER_NODE:-8} \
    --cpus-per-task=${CPUS_PER_TASK:-5} \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    ${PYTHON:-python} -u "$DIR/$TOOL.py" "$3" "$TARGET" --launcher=slurm "${@:5}"
