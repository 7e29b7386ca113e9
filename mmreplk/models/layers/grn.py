"""Global Response Normalisation (ConvNeXt V2) on channels-last inputs."""
import torch
import torch.nn as nn


class GRN(nn.Module):
    """``(gamma * N(x) + 1) * x + beta`` with ``N(x)`` the per-channel L2 norm
    over H and W divided by its mean over channels; inputs ``(N, H, W, C)``.

    Args:
        channels (int): Channels.
        use_bias (bool): Learn ``beta``. Defaults to True.
        eps (float): Stabiliser of the division. Defaults to 1e-6.
    """

    def __init__(self, channels, use_bias=True, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, channels)) \
            if use_bias else None

    def forward(self, x):
        spatial = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        response = spatial / (spatial.mean(dim=-1, keepdim=True) + self.eps)
        out = (self.gamma * response + 1) * x
        return out + self.beta if self.beta is not None else out
