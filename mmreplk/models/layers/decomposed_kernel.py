"""SLaK's decomposed large kernel: two strips and a small square kernel.

Liu et al., "More ConvNets in the 2020s: Scaling up Kernels Beyond 51x51
using Sparsity", ICLR 2023 (official code: VITA-Group/SLaK).

A ``K x K`` depthwise kernel is replaced by the sum of three depthwise
conv-BN branches, each zero-padded "same" per axis (stride 1):

* ``vertical_strip``: ``K x s`` (official ``LoRA1``);
* ``horizontal_strip``: ``s x K`` (official ``LoRA2``);
* ``small_conv``: ``s x s`` (official ``small_conv``),

with ``s`` the small kernel (5 in every released model). All three run
through :func:`mmreplk.ops.depthwise_conv2d`, whose back ends take
rectangular kernels.

Deploy forms (both exact in eval mode, because every branch is centred and
stride 1):

* ``'large_kernel'``: one ``K x K`` depthwise conv with bias, the sum of the
  three BN-folded kernels zero-padded to ``K x K``;
* ``'decomposed'``: two strip convs; the BN-folded ``s x s`` kernel lies
  inside the ``K x s`` strip (its columns are the strip's) and is added to
  it, and the three biases go to the vertical strip.

The official code has neither form (its merge handles only the
non-decomposed ``K x K`` + ``s x s`` layer).
"""
import torch

from .kernel_transforms import pad_kernel_to
from .large_kernel import (DepthwiseConv2d, DepthwiseConvNorm,
                           check_kernel_sizes)
from .reparam_base import RepModule, build_foldable_norm

DEPLOY_FORMS = ('decomposed', 'large_kernel')


def check_deploy_form(deploy_form):
    if deploy_form not in DEPLOY_FORMS:
        raise ValueError(f'Unknown deploy_form {deploy_form!r}; choose one '
                         f'of {DEPLOY_FORMS}.')


def _same_padding(kernel_size):
    return kernel_size[0] // 2, kernel_size[1] // 2


class DecomposedLargeKernelConv(RepModule):
    """SLaK's large kernel: ``K x s`` + ``s x K`` + ``s x s`` depthwise
    conv-BN branches, summed (official ``ReparamLargeKernelConv`` with
    ``Decom=True``).

    Args:
        channels (int): Input and output channels (depthwise).
        large_kernel (int): Odd ``K``, e.g. 51.
        small_kernel (int): Odd ``s < K``: the strips' short side and the
            small square kernel (official: 5).
        norm_cfg (dict, optional): BatchNorm-family norm of each branch
            (official: SyncBN); None for branches without norm (the official
            ImageNet option ``bn=False``).
        impl (str): Back end of :func:`mmreplk.ops.depthwise_conv2d` for all
            three branches and both deploy forms.
        deploy (bool): Build the inference form directly.
        deploy_form (str): ``'decomposed'`` (two strips) or
            ``'large_kernel'`` (one ``K x K`` kernel), see the module doc.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channels,
                 large_kernel,
                 small_kernel=5,
                 norm_cfg=dict(type='BN'),
                 impl='auto',
                 deploy=False,
                 deploy_form='decomposed',
                 init_cfg=None):
        super().__init__(deploy=deploy, init_cfg=init_cfg)
        if small_kernel is None:
            raise ValueError(
                'DecomposedLargeKernelConv needs a small_kernel: its strips '
                'are large_kernel x small_kernel (official: 5).')
        check_kernel_sizes(large_kernel, small_kernel)
        check_deploy_form(deploy_form)
        if norm_cfg is not None:  # refused now, not at deployment
            build_foldable_norm(type(self).__name__, norm_cfg, channels)
        self.channels = channels
        self.large_kernel = large_kernel
        self.small_kernel = small_kernel
        self.impl = impl
        self.deploy_form = deploy_form
        if deploy:
            self._init_deploy_form()
            return
        k, s = large_kernel, small_kernel
        self.vertical_strip = DepthwiseConvNorm(channels, (k, s), norm_cfg,
                                                impl)
        self.horizontal_strip = DepthwiseConvNorm(channels, (s, k), norm_cfg,
                                                  impl)
        self.small_conv = DepthwiseConvNorm(channels, (s, s), norm_cfg, impl)

    def _conv(self, kernel_size, bias):
        return DepthwiseConv2d(
            self.channels,
            self.channels,
            kernel_size,
            padding=_same_padding(kernel_size),
            bias=bias,
            impl=self.impl)

    def _deploy_convs(self):
        """The deploy form's convs by attribute name, each ``(kernel_size,
        has_bias)``."""
        k, s = self.large_kernel, self.small_kernel
        if self.deploy_form == 'large_kernel':
            return dict(reparam_conv=((k, k), True))
        return dict(
            reparam_vertical=((k, s), True),
            reparam_horizontal=((s, k), False))

    def forward(self, x):
        if not self.deploy:
            return self.vertical_strip(x) + self.horizontal_strip(x) + \
                self.small_conv(x)
        if self.deploy_form == 'large_kernel':
            return self.reparam_conv(x)
        return self.reparam_vertical(x) + self.reparam_horizontal(x)

    def fused_kernel_bias(self):
        """Tensors of the ``deploy_form`` inference form, equal to the
        eval-mode training form: ``'large_kernel'``: the ``(C, 1, K, K)``
        kernel and the bias; ``'decomposed'``: the ``(C, 1, K, s)`` vertical
        kernel (small kernel included), its bias and the ``(C, 1, s, K)``
        horizontal kernel."""
        k, s = self.large_kernel, self.small_kernel
        vertical, v_bias = self.vertical_strip.fused_kernel_bias()
        horizontal, h_bias = self.horizontal_strip.fused_kernel_bias()
        small, s_bias = self.small_conv.fused_kernel_bias()
        bias = v_bias + h_bias + s_bias
        if self.deploy_form == 'large_kernel':
            kernel = pad_kernel_to(vertical, k) + \
                pad_kernel_to(horizontal, k) + pad_kernel_to(small, k)
            return kernel, bias
        return vertical + pad_kernel_to(small, (k, s)), bias, horizontal

    def training_attrs(self):
        return ('vertical_strip', 'horizontal_strip', 'small_conv')

    def _init_deploy_form(self):
        for name, (kernel_size, bias) in self._deploy_convs().items():
            setattr(self, name, self._conv(kernel_size, bias))

    def _install_deploy_form(self, fused):
        self._init_deploy_form()
        ref = fused[0]
        convs = [getattr(self, name) for name in self._deploy_convs()]
        targets = []
        for conv in convs:
            conv.to(device=ref.device, dtype=ref.dtype)
            targets += [conv.weight] + \
                ([conv.bias] if conv.bias is not None else [])
        with torch.no_grad():
            for target, value in zip(targets, fused, strict=True):
                target.copy_(value)

    def switch_to_deploy(self, deploy_form=None):
        """Fold the branches and BNs into the ``deploy_form`` inference form
        (default: the one given at construction); see
        :meth:`RepModule.switch_to_deploy`."""
        if self.deploy:
            return
        if deploy_form is not None:
            check_deploy_form(deploy_form)
            self.deploy_form = deploy_form
        super().switch_to_deploy()
