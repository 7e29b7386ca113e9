#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node (as in mmseg): run once per node with NNODES, NODE_RANK,
#   MASTER_ADDR (node 0's address) and PORT, e.g. NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 tools/dist_train.sh CONFIG GPUS
# PYTHON overrides the interpreter. Without GPUs the processes use gloo.
if [ $# -lt 2 ]; then
    echo "error: expected CONFIG GPUS [train.py args...], got $# argument(s). Example: tools/dist_train.sh configs/upernet_replknet31b_ade20k.py 8" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
