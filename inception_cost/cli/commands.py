"""Collects every command module so ``cli`` knows them."""
from . import cli
from .layers import layers
from .variants_cmd import variants_cmd

for _cmd in (layers, variants_cmd):
    cli.add_command(_cmd)
