"""Imports every architecture family so its @register_variant calls run.

``FAMILIES`` fixes the listing order of ``variants()`` (and so of reports/),
whatever order the family modules happen to be imported in.
"""
import importlib

FAMILIES = [
    "inception_modules",  # naive / reduced modules (GoogLeNet Fig. 2)
    "factorized",         # Rethinking's Fig. 5/6/7/10, v4 and Inception-ResNet blocks
    "googlenet",
    "bn_inception",
    "inception_v2",
    "inception_v3",
    "inception_v4",
    "inception_resnet",
    "comparators",        # AlexNet, VGG16, ResNet-50
]

for _family in FAMILIES:
    importlib.import_module(f"{__package__}.{_family}")
