"""Support of the command-line tools: configs, models and checkpoints read
with clear errors, safe output paths, atomic writes, the train/test runner
set-up and the error-to-exit-status wrapper :func:`tool_main`. Nothing here
imports :mod:`mmreplk.models` or :mod:`mmreplk.engine`."""
from .atomic_write import atomic_write_bytes, atomic_write_json
from .checkpoint_io import (OFFICIAL_CHECKPOINT_GLOBALS,
                            CheckpointMismatchError, CheckpointReadError,
                            check_against_model, read_checkpoint,
                            save_state_dict, unwrap_state_dict)
from .checkpoint_safe_globals import (mmengine_checkpoint_globals,
                                      mmengine_checkpoint_safe_globals)
from .data_roots import check_data_roots
from .model_from_config import (build_model_from_config, check_backbone_known,
                                check_checkpoint_matches, is_remote,
                                load_config, load_model_checkpoint,
                                load_remote_checkpoint, model_task,
                                read_state_dict, require_file)
from .output_paths import check_output_paths
from .runner_launch import (build_runner, parse_runner_args,
                            report_config_changes, runner_config,
                            runner_parser, setup_cpu_distributed,
                            teardown_distributed)
from .tool_entry import ToolCheckFailed, ToolInputError, tool_main

__all__ = [
    'atomic_write_bytes', 'atomic_write_json', 'OFFICIAL_CHECKPOINT_GLOBALS',
    'CheckpointMismatchError', 'CheckpointReadError', 'check_against_model',
    'read_checkpoint', 'save_state_dict', 'unwrap_state_dict',
    'mmengine_checkpoint_globals', 'mmengine_checkpoint_safe_globals',
    'check_data_roots', 'build_model_from_config', 'check_backbone_known',
    'check_checkpoint_matches', 'is_remote', 'load_config',
    'load_model_checkpoint', 'load_remote_checkpoint', 'model_task',
    'read_state_dict', 'require_file', 'check_output_paths', 'build_runner',
    'parse_runner_args', 'report_config_changes', 'runner_config',
    'runner_parser', 'setup_cpu_distributed', 'teardown_distributed',
    'ToolCheckFailed', 'ToolInputError', 'tool_main'
]
