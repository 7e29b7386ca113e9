"""Layer-wise learning-rate decay for any backbone that says how deep each
of its parameters is.

mmseg's and mmdet's ``LearningRateDecayOptimizerConstructor`` only accept
backbones whose class name contains "ConvNeXt". Here the backbone answers
``get_layer_depth(param_name, num_layers)`` itself (as mmpretrain's backbones
do), so the rule lives next to the architecture it describes.
"""
import inspect

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from mmreplk.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Scale each backbone parameter's learning rate by
    ``decay_rate ** (num_layers + 1 - layer_id)``; parameters outside the
    backbone (neck, heads) keep the base learning rate.

    Weight decay is disabled for 1-D parameters (norms, biases, layer scales),
    as in the ConvNeXt-style recipes that use this schedule.

    ``paramwise_cfg`` keys:
        num_layers (int): Number of backbone layer groups (e.g. 12).
        decay_rate (float): Decay per layer group (1.0 disables the decay).
        decay_type (str, optional): The backbone's grouping rule, passed to
            ``get_layer_depth`` (e.g. ``'layer_wise'`` or ``'stage_wise'``
            of the ConvNeXt-style backbones); omitted: the backbone's
            default rule.

    The model's backbone must implement ``get_layer_depth(param_name,
    num_layers)`` (with a ``decay_type`` argument when ``decay_type`` is
    given) returning an id in ``[0, num_layers + 1]``, with ``param_name``
    relative to the backbone.
    """

    def add_params(self, params, module, **kwargs):
        num_layers = self.paramwise_cfg.get('num_layers')
        decay_rate = self.paramwise_cfg.get('decay_rate')
        if num_layers is None or decay_rate is None:
            raise KeyError('LayerDecayOptimWrapperConstructor needs '
                           'paramwise_cfg=dict(num_layers=..., '
                           f'decay_rate=...); got {self.paramwise_cfg}.')
        backbone = getattr(module, 'backbone', module)
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(
                f'{type(backbone).__name__} does not implement '
                'get_layer_depth(param_name, num_layers), which layer-wise '
                'learning-rate decay needs; use the default optim wrapper '
                'constructor for this backbone.')
        # The backbone's own grouping rule unless decay_type names one.
        rule = {}
        if 'decay_type' in self.paramwise_cfg:
            rule = dict(decay_type=self.paramwise_cfg['decay_type'])
            if 'decay_type' not in inspect.signature(
                    backbone.get_layer_depth).parameters:
                raise TypeError(
                    f'{type(backbone).__name__}.get_layer_depth has one '
                    f"grouping rule only; remove decay_type="
                    f"{rule['decay_type']!r} from paramwise_cfg.")
        prefix = 'backbone.' if backbone is not module else ''
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if prefix and not name.startswith(prefix):
                layer_id = num_layers + 1
            else:
                layer_id = backbone.get_layer_depth(name[len(prefix):],
                                                    num_layers, **rule)
            no_decay = param.ndim == 1 or name.endswith('.bias')
            key = (layer_id, no_decay)
            if key not in groups:
                scale = decay_rate**(num_layers + 1 - layer_id)
                groups[key] = dict(
                    params=[],
                    lr=self.base_lr * scale,
                    lr_scale=scale,
                    weight_decay=0. if no_decay else self.base_wd,
                    group_name=f'layer_{layer_id}_'
                    f'{"no_decay" if no_decay else "decay"}')
            groups[key]['params'].append(param)
        print_log(
            f'Layer-wise lr decay {decay_rate} over {num_layers} layers: '
            f'{len(groups)} parameter groups.',
            logger='current')
        params.extend(groups[k] for k in sorted(groups))
