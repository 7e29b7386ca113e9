"""mmengine's runner, with its checkpoint loads under a scoped allow-list.

torch >= 2.6 loads checkpoints with ``weights_only=True``, which rejects the
training state mmengine stores next to the weights (see
:mod:`mmreplk.utils.checkpoint_safe_globals`). Instead of allow-listing
that state for the whole process, :class:`SafeResumeRunner` allows it for
the runner's own checkpoint loads only: ``load_from`` / resume, and the
weight initialisation, where a ``Pretrained`` ``init_cfg`` may name a
training checkpoint (``iter_N.pth``) of an earlier run. The runtime bases
select it with ``runner_type``; ``tools/train.py`` and ``tools/test.py`` use
it for configs that name no runner.
"""
from mmengine.runner import Runner

from mmreplk.registry import RUNNERS
from mmreplk.utils.checkpoint_safe_globals import \
    mmengine_checkpoint_safe_globals


@RUNNERS.register_module()
class SafeResumeRunner(Runner):
    """:class:`mmengine.runner.Runner` whose ``load_from``, resume and
    ``Pretrained`` initialisation loads accept an mmengine training
    checkpoint under the safe unpickler."""

    def _init_model_weights(self):
        with mmengine_checkpoint_safe_globals():
            super()._init_model_weights()

    def load_or_resume(self):
        with mmengine_checkpoint_safe_globals():
            super().load_or_resume()
