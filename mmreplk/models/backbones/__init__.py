from .orepa_repvgg import OREPARepVGG
from .orepa_resnet import OREPAResNet
from .replknet import RepLKNet

__all__ = ['OREPARepVGG', 'OREPAResNet', 'RepLKNet']
