from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .layers import RepModule
from .reparam import reparameterize_model

__all__ = ['RepModule', 'reparameterize_model']
