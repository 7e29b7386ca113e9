from .orepa_repvgg import OREPARepVGG
from .orepa_resnet import OREPAResNet
from .replknet import RepLKNet
from .shiftwise_net import ShiftWiseNet

__all__ = ['OREPARepVGG', 'OREPAResNet', 'RepLKNet', 'ShiftWiseNet']
