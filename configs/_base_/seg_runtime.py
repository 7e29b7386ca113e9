# mmseg's default runtime plus mmreplk's exact-resume hook.
_base_ = ['mmseg::_base_/default_runtime.py']

# Checkpoints carry the RNG states and impl='auto''s back-end choices so
# that --resume continues the exact run.
custom_hooks = [dict(type='RNGStateHook'), dict(type='DispatchChoicesHook')]
