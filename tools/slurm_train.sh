#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]: see tools/launch.sh.
exec bash "$(dirname "$0")/launch.sh" slurm train "$@"
