from .orepa_repvgg import OREPARepVGG
from .orepa_resnet import OREPAResNet
from .replknet import RepLKNet
from .shiftwise_net import ShiftWiseNet
from .slak import SLaK
from .unireplknet import UniRepLKNet

__all__ = [
    'OREPARepVGG', 'OREPAResNet', 'RepLKNet', 'SLaK', 'ShiftWiseNet',
    'UniRepLKNet'
]
