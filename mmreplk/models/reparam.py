"""The one re-parameterisation protocol of mmreplk.

Every layer that has a training form and a cheaper, equivalent inference form
subclasses :class:`RepModule` and implements :meth:`RepModule.switch_to_deploy`.
:func:`reparameterize_model` converts a whole model (backbone, segmentor or
detector) by calling that one method on every such layer.
"""
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule


class RepModule(BaseModule):
    """Base class of every re-parameterisable layer.

    Args:
        deploy (bool): Build the layer directly in its inference form, e.g. to
            load a checkpoint written after :meth:`switch_to_deploy`.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, deploy=False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.deploy = deploy

    def switch_to_deploy(self):
        """Fold the training-form branches into the inference form in place.

        Must be idempotent: calling it on a deployed layer is a no-op.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement switch_to_deploy().')


def reparameterize_model(model, set_eval=True):
    """Convert every :class:`RepModule` in ``model`` to its inference form.

    Folding uses BatchNorm running statistics, so the result is equivalent to
    the eval-mode training form. Modules that carry a ``deploy`` flag of their
    own (backbones) get it set as well, so that ``model.backbone.deploy`` tells
    which form a checkpoint belongs to.

    Args:
        model (nn.Module): Any model; converted in place.
        set_eval (bool): Put the model in eval mode first. Defaults to True.

    Returns:
        nn.Module: ``model`` itself, converted.
    """
    if set_eval:
        model.eval()
    # Collect first: switch_to_deploy deletes sub-modules while we iterate.
    rep_modules = [m for m in model.modules() if isinstance(m, RepModule)]
    for module in rep_modules:
        module.switch_to_deploy()
    for module in model.modules():
        if not isinstance(module, RepModule) and hasattr(module, 'deploy') \
                and isinstance(getattr(module, 'deploy'), bool):
            module.deploy = True
    print_log(f'Re-parameterised {len(rep_modules)} layers into their '
              'deploy form.', logger='current')
    return model


def count_rep_modules(model: nn.Module, deployed=None):
    """Number of :class:`RepModule` layers, optionally filtered by form."""
    return sum(1 for m in model.modules() if isinstance(m, RepModule) and
               (deployed is None or m.deploy == deployed))
