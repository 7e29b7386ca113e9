#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args...]: see tools/launch.sh.
exec bash "$(dirname "$0")/launch.sh" dist train "$@"
