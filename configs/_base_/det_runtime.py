# mmdet's default runtime plus mmreplk's robustness settings.
_base_ = ['mmdet::_base_/default_runtime.py']

# Checkpoints are written atomically (temp file + rename), so an interrupted
# save never corrupts the last good checkpoint.
default_hooks = dict(
    checkpoint=dict(backend_args=dict(backend='atomic_local')))
# Checkpoints carry the RNG states so that --resume continues the exact run.
custom_hooks = [dict(type='RNGStateHook')]
