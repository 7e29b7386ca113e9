"""Helpers of the command-line tools: reading a config, its model and a
checkpoint with errors that say what is wrong and how to fix it, checking
output paths and data roots, writing files atomically, starting and ending
a CPU distributed run, and the one error-to-exit-status wrapper
(:func:`tool_main`). Nothing here imports another part of mmreplk (see
the import layers in docs/architecture.md)."""
from .atomic_write import atomic_write_bytes
from .checkpoint_io import (OFFICIAL_CHECKPOINT_GLOBALS,
                            CheckpointMismatchError, CheckpointReadError,
                            check_against_model, load_source_state_dict,
                            read_checkpoint, read_conversion_source,
                            save_state_dict, unwrap_state_dict)
from .checkpoint_safe_globals import (mmengine_checkpoint_globals,
                                      mmengine_checkpoint_safe_globals)
from .data_roots import check_data_roots, missing_data_roots
from .distributed_launch import setup_cpu_distributed, teardown_distributed
from .model_from_config import (build_model_from_config, check_backbone_known,
                                check_checkpoint_matches, is_remote,
                                load_config, load_model_checkpoint,
                                load_remote_checkpoint, model_task,
                                read_state_dict, require_file)
from .output_paths import check_output_paths
from .tool_entry import (EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK,
                         ToolCheckFailed, ToolInputError, tool_main)

__all__ = [
    'atomic_write_bytes', 'OFFICIAL_CHECKPOINT_GLOBALS',
    'CheckpointMismatchError', 'CheckpointReadError', 'check_against_model',
    'load_source_state_dict', 'read_checkpoint', 'read_conversion_source',
    'save_state_dict', 'unwrap_state_dict', 'mmengine_checkpoint_globals',
    'mmengine_checkpoint_safe_globals', 'check_data_roots',
    'missing_data_roots', 'setup_cpu_distributed', 'teardown_distributed',
    'build_model_from_config', 'check_backbone_known',
    'check_checkpoint_matches', 'is_remote', 'load_config',
    'load_model_checkpoint', 'load_remote_checkpoint', 'model_task',
    'read_state_dict', 'require_file', 'check_output_paths', 'EXIT_BAD_INPUT',
    'EXIT_CHECK_FAILED', 'EXIT_OK', 'ToolCheckFailed', 'ToolInputError',
    'tool_main'
]
