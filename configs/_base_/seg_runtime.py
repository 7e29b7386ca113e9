# mmseg's default runtime plus mmreplk's plugin import, runner and
# exact-resume hooks. The atomic checkpoint hook is set by the schedules:
# mmseg's schedules own default_hooks, and mmengine refuses a key that two
# bases of one config both define.
_base_ = ['mmseg::_base_/default_runtime.py']

# Registers mmreplk's backbones, layers, hooks and runner in every config
# built on this base (for mmseg's/mmdet's own tools too).
custom_imports = dict(imports=['mmreplk'], allow_failed_imports=False)
# Loads load_from/resume checkpoints with mmengine's training state allowed
# for that load only (torch >= 2.6 refuses it by default).
runner_type = 'SafeResumeRunner'

# Checkpoints carry the RNG states and impl='auto''s back-end choices so
# that --resume continues the exact run.
custom_hooks = [dict(type='RNGStateHook'), dict(type='DispatchChoicesHook')]
