#!/usr/bin/env bash
# tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]: see tools/launch.sh.
exec bash "$(dirname "$0")/launch.sh" slurm test "$@"
