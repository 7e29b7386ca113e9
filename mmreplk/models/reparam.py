"""Converting a whole model (backbone, segmentor or detector) to its
inference form.

The per-layer protocol is :class:`~mmreplk.models.layers.RepModule`; every
mmreplk backbone converts its own layers with ``switch_to_deploy()``.
:func:`reparameterize_model` calls that on each backbone of a model and on
any remaining :class:`RepModule` outside one; nothing else is touched.
"""
import torch.nn as nn
from mmengine.logging import print_log

from .backbones.staged_backbone import StagedBackbone
from .layers import RepModule


def reparameterize_model(model, set_eval=True):
    """Convert every :class:`RepModule` in ``model`` to its inference form.

    Folding uses BatchNorm running statistics, so the result is equivalent to
    the eval-mode training form. mmreplk backbones convert through their
    ``switch_to_deploy()``, which also sets their ``deploy`` flag (read by the
    deploy config and checkpoint meta). Modules that are not mmreplk's, even
    with a ``deploy`` attribute of their own, are left untouched.

    Args:
        model (nn.Module): Any model; converted in place.
        set_eval (bool): Put the model in eval mode first. Defaults to True.

    Returns:
        nn.Module: ``model`` itself, converted.
    """
    if set_eval:
        model.eval()
    before = count_rep_modules(model, deployed=False)
    for backbone in [
            m for m in model.modules() if isinstance(m, StagedBackbone)
    ]:
        backbone.switch_to_deploy()
    # Layers outside an mmreplk backbone (e.g. in a neck or a bare layer).
    for module in [m for m in model.modules() if isinstance(m, RepModule)]:
        module.switch_to_deploy()
    print_log(
        f'Re-parameterised {before} layers into their deploy form.',
        logger='current')
    return model


def count_rep_modules(model: nn.Module, deployed=None):
    """Number of :class:`RepModule` layers, optionally filtered by form."""
    return sum(1 for m in model.modules() if isinstance(m, RepModule) and (
        deployed is None or m.deploy == deployed))
