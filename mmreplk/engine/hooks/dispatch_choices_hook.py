"""Keep ``impl='auto'``'s measured back-end choices with each checkpoint, so
a resumed run computes with the same back ends as the run it resumes (back
ends differ in the last bits; a choice re-measured differently after
``--resume`` would break bit-exact resumption)."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmreplk.ops import AUTOTUNER
from mmreplk.registry import HOOKS

META_KEY = 'mmreplk_dispatch_choices'


@HOOKS.register_module()
class DispatchChoicesHook(Hook):
    """Store the back-end choices of :data:`mmreplk.ops.AUTOTUNER`
    in the checkpoint's ``meta`` and reuse them when resuming.

    On resume the stored choices take precedence over new measurements and
    over the persisted cache (``MMREPLK_DISPATCH_CACHE``); shapes first seen
    after the checkpoint are measured as usual (persist the cache to pin
    those across runs too). Loading weights for fine-tuning (``load_from``)
    does not pin anything.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint.setdefault('meta', {})[META_KEY] = AUTOTUNER.export()

    def after_load_checkpoint(self, runner, checkpoint):
        choices = checkpoint.get('meta', {}).get(META_KEY)
        if not getattr(runner, '_resume', False) or not choices:
            return
        AUTOTUNER.pin(choices)
        print_log(
            f'Reusing {len(choices)} back-end choice(s) of the '
            'resumed checkpoint.',
            logger='current')
