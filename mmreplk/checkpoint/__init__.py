from .strict_conversion import (CheckpointMismatchError, check_against_model,
                                load_source_state_dict, save_state_dict)

__all__ = [
    'CheckpointMismatchError', 'check_against_model',
    'load_source_state_dict', 'save_state_dict'
]
