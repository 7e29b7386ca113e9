"""A random state dict in the official ShiftWise_v2 key layout."""
import math

import torch


def official_sw_tiny_state(merged_paths=False):
    """Random state dict with the official ShiftWise_v2-tiny key names and
    shapes (ImageNet model: final ``norm`` and ``head``), built from the
    official module definitions, not from mmreplk's modules."""
    dims, depths, bigs = [80, 160, 320, 640], [3, 3, 18, 3], [51, 49, 47, 13]
    gen = torch.Generator().manual_seed(0)
    shapes = {}

    def bn(prefix, c):
        for name in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{prefix}.{name}'] = (c, )
        shapes[f'{prefix}.num_batches_tracked'] = ()

    def ln(prefix, c):
        shapes[f'{prefix}.weight'] = (c, )
        shapes[f'{prefix}.bias'] = (c, )

    shapes['downsample_layers.0.0.weight'] = (40, 3, 3, 3)
    shapes['downsample_layers.0.0.bias'] = (40, )
    ln('downsample_layers.0.1', 40)
    shapes['downsample_layers.0.3.weight'] = (80, 40, 3, 3)
    shapes['downsample_layers.0.3.bias'] = (80, )
    ln('downsample_layers.0.4', 80)
    for i in range(3):
        shapes[f'downsample_layers.{i + 1}.0.weight'] = (dims[i + 1], dims[i],
                                                         3, 3)
        shapes[f'downsample_layers.{i + 1}.0.bias'] = (dims[i + 1], )
        ln(f'downsample_layers.{i + 1}.1', dims[i + 1])
    for s, (c, depth, big) in enumerate(zip(dims, depths, bigs)):
        rep = int(c * 0.77) // 2 * 2
        nk = math.ceil(big / 3)
        for j in range(depth):
            p = f'stages.{s}.{j}'
            if merged_paths:
                shapes[f'{p}.large_kernel.LoRA.weight'] = (rep * nk, 1, 3, 3)
            else:
                for path in range(2):
                    shapes[f'{p}.large_kernel.LoRAs.{path}.weight'] = (rep *
                                                                       nk, 1,
                                                                       3, 3)
            for name in ('bn_lora1', 'bn_lora2', 'bn_small'):
                bn(f'{p}.large_kernel.{name}', rep)
            bn(f'{p}.norm', c)
            shapes[f'{p}.se.down.weight'] = (c // 4, c, 1, 1)
            shapes[f'{p}.se.down.bias'] = (c // 4, )
            shapes[f'{p}.se.up.weight'] = (c, c // 4, 1, 1)
            shapes[f'{p}.se.up.bias'] = (c, )
            shapes[f'{p}.pwconv1.1.weight'] = (4 * c, c)
            shapes[f'{p}.pwconv1.1.bias'] = (4 * c, )
            shapes[f'{p}.act.1.gamma'] = (1, 1, 1, 4 * c)
            shapes[f'{p}.act.1.beta'] = (1, 1, 1, 4 * c)
            shapes[f'{p}.pwconv2.0.weight'] = (c, 4 * c)
            bn(f'{p}.pwconv2.2', c)
            shapes[f'{p}.gamma'] = (c, )
    ln('norm', 640)
    shapes['head.weight'] = (1000, 640)
    shapes['head.bias'] = (1000, )
    return {
        k: (torch.tensor(7) if k.endswith('num_batches_tracked') else
            torch.rand(v, generator=gen) + 0.5)
        for k, v in shapes.items()
    }
