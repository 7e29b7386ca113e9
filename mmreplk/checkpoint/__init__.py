from .strict_conversion import (OFFICIAL_CHECKPOINT_GLOBALS,
                                CheckpointMismatchError, CheckpointReadError,
                                check_against_model, load_source_state_dict,
                                read_checkpoint, save_state_dict,
                                unwrap_state_dict)

__all__ = [
    'CheckpointMismatchError', 'CheckpointReadError',
    'OFFICIAL_CHECKPOINT_GLOBALS', 'check_against_model',
    'load_source_state_dict', 'read_checkpoint', 'save_state_dict',
    'unwrap_state_dict'
]
