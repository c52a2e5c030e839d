"""Imports every architecture family so its @register_variant calls run (order = listing order)."""
from . import inception_modules  # noqa: F401  naive / reduced modules (GoogLeNet Fig. 2)
from . import factorized  # noqa: F401  Rethinking's Fig. 5/6/7/10, v4 and Inception-ResNet blocks
from . import googlenet  # noqa: F401
from . import bn_inception  # noqa: F401
from . import inception_v2  # noqa: F401
from . import inception_v3  # noqa: F401
from . import inception_v4  # noqa: F401
from . import inception_resnet  # noqa: F401
from . import comparators  # noqa: F401  AlexNet, VGG16, ResNet-50
