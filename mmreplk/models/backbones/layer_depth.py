"""Layer ids for layer-wise learning-rate decay of ConvNeXt-style backbones
(``downsample_layers.{i}`` and ``stages.{s}.{b}`` names): the two rules of
the official ConvNeXt-derived optimiser constructors (ConvNeXt, SLaK,
ShiftWise), for :class:`~mmreplk.engine.LayerDecayOptimWrapperConstructor`.
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
    if parts[0] == 'stages':
        stage, block = int(parts[1]), int(parts[2])
        return {
            0: 1,
            1: 2
        }.get(stage, 3 + block // 3 if stage == 2 else num_layers)
    return num_layers + 1
