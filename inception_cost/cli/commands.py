"""Collects every command module so ``cli`` knows them."""
from . import cli
from .layers import layers
from .variants_cmd import variants_cmd
from .check_cmd import check_cmd
from .report_cmd import report_cmd
from .profile_cmd import profile_cmd

for _cmd in (layers, variants_cmd, check_cmd, report_cmd, profile_cmd):
    cli.add_command(_cmd)
