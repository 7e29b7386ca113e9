# mmseg's standard ResNet schedule (SGD lr 0.01, momentum 0.9, weight decay
# 5e-4, poly decay) over 160k iterations, with atomic checkpoints.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

# Checkpoints and the last_checkpoint pointer are written atomically (temp
# file + rename), so an interrupted save never corrupts the last good one.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
