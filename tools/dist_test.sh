#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Multi-node (as in mmseg): run once per node with NNODES, NODE_RANK,
#   MASTER_ADDR (node 0's address) and PORT, e.g. NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 tools/dist_test.sh CONFIG CHECKPOINT GPUS
# PYTHON overrides the interpreter. Without GPUs the processes use gloo.
if [ $# -lt 3 ]; then
    echo "error: expected CONFIG CHECKPOINT GPUS [test.py args...], got $# argument(s). Example: tools/dist_test.sh configs/upernet_replknet31b_ade20k.py iter_160000.pth 8" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
${PYTHON:-python} -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
