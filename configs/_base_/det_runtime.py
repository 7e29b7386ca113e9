# mmdet's default runtime plus mmreplk's robustness settings.
_base_ = ['mmdet::_base_/default_runtime.py']

# Checkpoints and the last_checkpoint pointer are written atomically (temp
# file + rename), so an interrupted save never corrupts the last good one.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# Checkpoints carry the RNG states and impl='auto''s back-end choices so
# that --resume continues the exact run.
custom_hooks = [dict(type='RNGStateHook'), dict(type='DispatchChoicesHook')]
