"""Layer ids for layer-wise learning-rate decay of ConvNeXt-style backbones
(``downsample_layers.{i}`` and ``stages.{s}.{b}`` names): the two rules of
the official ConvNeXt-derived optimiser constructors (ConvNeXt, SLaK,
ShiftWise, UniRepLKNet), for
:class:`~mmreplk.engine.LayerDecayOptimWrapperConstructor`.
"""

DECAY_TYPES = ('layer_wise', 'stage_wise')


def check_decay_type(decay_type):
    if decay_type not in DECAY_TYPES:
        raise ValueError(f'Unknown decay_type {decay_type!r}; choose one of '
                         f'{DECAY_TYPES}.')


def convnext_layer_depth(param_name, num_layers, decay_type='layer_wise'):
    """Layer id of a backbone parameter (name relative to the backbone).

    * ``'layer_wise'``: stem 0, stage 0 -> 1, downsampling 1 and stage 1 ->
      2, downsampling 2 -> 3, stage 2 block ``b`` -> ``3 + b // 3``,
      downsampling 3 and stage 3 -> ``num_layers``;
    * ``'stage_wise'``: every downsampling layer (stem included) 0, stage
      ``s`` -> ``s + 1``;

    and anything else (the output norms) ``num_layers + 1``, the id of the
    neck and heads.

    Raises:
        ValueError: ``'layer_wise'`` would give a stage-2 block an id of
            ``num_layers`` or more (stage 3's id, or a larger learning rate
            than stage 3's); the message names the smallest ``num_layers``
            that fits.
    """
    check_decay_type(decay_type)
    parts = param_name.split('.')
    if decay_type == 'stage_wise':
        if parts[0] == 'downsample_layers':
            return 0
        if parts[0] == 'stages':
            return int(parts[1]) + 1
        return num_layers + 1
    if parts[0] == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3}.get(int(parts[1]), num_layers)
    if parts[0] != 'stages':
        return num_layers + 1
    stage, block = int(parts[1]), int(parts[2])
    if stage in (0, 1):
        return stage + 1
    if stage != 2:
        return num_layers
    layer_id = 3 + block // 3
    if layer_id >= num_layers:
        raise ValueError(
            f'Layer-wise lr decay with num_layers={num_layers} gives stage-2 '
            f'block {block} ({param_name}) layer id {layer_id}, not below '
            f'the id of stage 3 ({num_layers}); use paramwise_cfg '
            f'num_layers >= {layer_id + 1} (e.g. 9 for 18 stage-2 blocks, 12 '
            'for 27).')
    return layer_id
