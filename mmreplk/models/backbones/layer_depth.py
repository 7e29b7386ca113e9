"""The layer ids of the ConvNeXt-style layer-wise learning-rate decay that
the official ShiftWise and UniRepLKNet downstream recipes use, for backbones
laid out as ``downsample_layers.{0..3}`` and ``stages.{0..3}.{block}``."""


def convnext_layer_depth(param_name, num_layers):
    """Layer id of a backbone parameter (name relative to the backbone):
    the stem (``downsample_layers.0``) 0, stage 0 1, downsampling 1 and
    stage 1 2, downsampling 2 3, stage 2 block ``j`` ``3 + j // 3``,
    downsampling 3 and stage 3 ``num_layers``, anything else (the output
    norms) ``num_layers + 1``.

    Raises:
        ValueError: A stage-2 block would get an id of ``num_layers`` or
            more (a larger learning rate than stage 3's); the message names
            the smallest ``num_layers`` that fits.
    """
    parts = param_name.split('.')
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
            f'num_layers >= {layer_id + 1} (the official recipes: 9 for '
            '18 stage-2 blocks, 12 for 27).')
    return layer_id
