"""Argument checks shared by the conv-BN units, with errors that name the
fix."""


def check_conv_channels(layer, in_channels, out_channels, groups):
    """Channels and groups must be positive and ``groups`` must divide
    both channel counts."""
    for name, value in (('in_channels', in_channels),
                        ('out_channels', out_channels), ('groups', groups)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'{layer}: {name} must be a positive int, got '
                             f'{value!r}.')
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f'{layer}: groups={groups} must divide in_channels={in_channels} '
            f'and out_channels={out_channels}; pick a common divisor.')


def check_odd_kernel(layer, kernel_size, minimum=1):
    """``kernel_size`` must be an odd int ``>= minimum``: branch kernels are
    aligned on the centre tap."""
    if not isinstance(kernel_size, int) or kernel_size < minimum \
            or kernel_size % 2 == 0:
        raise ValueError(
            f'{layer}: kernel_size must be an odd int >= {minimum} (square '
            f'kernels only), got {kernel_size!r}.')


def same_padding(kernel_size, dilation=1):
    """Padding that keeps the spatial size at stride 1."""
    return dilation * (kernel_size - 1) // 2


def resolve_padding(layer, kernel_size, padding, dilation=1,
                    require_same=False):
    """``None`` -> "same" padding; otherwise a non-negative int, which must
    be the same padding when the layer's branches only agree with it."""
    if not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f'{layer}: dilation must be a positive int, got '
                         f'{dilation!r}.')
    same = same_padding(kernel_size, dilation)
    if padding is None:
        return same
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f'{layer}: padding must be None ("same") or a '
                         f'non-negative int, got {padding!r}.')
    if require_same and padding != same:
        raise ValueError(
            f'{layer}: its branches are only equivalent with "same" padding '
            f'({same} for kernel_size={kernel_size}, dilation={dilation}); '
            f'got padding={padding}. Use padding=None.')
    return padding


def check_stride(layer, stride):
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f'{layer}: stride must be a positive int, got '
                         f'{stride!r}.')
