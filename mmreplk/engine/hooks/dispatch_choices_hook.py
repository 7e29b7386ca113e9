"""Keep ``impl='auto'``'s measured back-end choices with each checkpoint, so
a resumed run computes with the same back ends as the run it resumes (back
ends differ in the last bits; a choice re-measured differently after
``--resume`` would break bit-exact resumption). Ranks measure on their own,
so every rank's choices are kept."""
from mmengine.logging import print_log

from mmreplk.ops import AUTOTUNER
from mmreplk.registry import HOOKS
from .per_rank_state import PerRankStateHook

META_KEY = 'mmreplk_dispatch_choices'


@HOOKS.register_module()
class DispatchChoicesHook(PerRankStateHook):
    """Store every rank's back-end choices of :data:`mmreplk.ops.AUTOTUNER`
    in the checkpoint's ``meta`` and reuse them when resuming.

    On resume each rank pins its own stored choices (rank 0's when the world
    size changed) over new measurements and over the persisted cache
    (``MMREPLK_DISPATCH_CACHE``); shapes first seen after the checkpoint are
    measured as usual (persist the cache to pin those across runs too).
    Loading weights for fine-tuning (``load_from``) pins nothing.
    """

    meta_key = META_KEY

    def capture(self, runner):
        return AUTOTUNER.export()

    def restore(self, runner, state):
        AUTOTUNER.pin(state)
        print_log(
            f'Reusing {len(state)} back-end choice(s) of the resumed '
            'checkpoint.',
            logger='current')
