"""Entry points shared by the command-line tools: a config, its model and a
checkpoint, each checked with an error that says what is wrong and how to
fix it."""
from .model_from_config import (ToolInputError, build_model_from_config,
                                check_backbone_known, check_checkpoint_matches,
                                is_remote, load_config, load_model_checkpoint,
                                load_remote_checkpoint, model_task,
                                read_state_dict, require_file)
from .output_paths import check_output_paths

__all__ = [
    'ToolInputError', 'build_model_from_config', 'check_backbone_known',
    'check_checkpoint_matches', 'check_output_paths', 'is_remote',
    'load_config', 'load_model_checkpoint', 'load_remote_checkpoint',
    'model_task', 'read_state_dict', 'require_file'
]
