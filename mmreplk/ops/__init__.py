from .depthwise_conv import depthwise_conv2d

__all__ = ['depthwise_conv2d']
