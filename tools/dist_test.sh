#!/usr/bin/env bash
# tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]: see tools/launch.sh.
exec bash "$(dirname "$0")/launch.sh" dist test "$@"
