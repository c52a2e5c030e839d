"""Collects every command module so ``cli`` knows them."""
from . import cli
from .layers import layers
from .variants_cmd import variants_cmd
from .check_cmd import check_cmd
from .report_cmd import report_cmd
from .profile_cmd import profile_cmd
from .table_cmd import table_cmd
from .module_cmd import module_cmd
from .factorize_cmd import factorize_cmd
from .cases_cmd import cases_cmd
from .memory_cmd import memory_cmd
from .train_cmd import train_cmd
from .devices_cmd import devices_cmd
from .predict_cmd import predict_cmd
from .calibrate_cmd import calibrate_cmd

for _cmd in (layers, variants_cmd, check_cmd, report_cmd, profile_cmd,
             table_cmd, module_cmd, factorize_cmd, cases_cmd, memory_cmd, train_cmd, devices_cmd, predict_cmd, calibrate_cmd):
    cli.add_command(_cmd)
