"""The command line: parse, call one function, print. Heavy imports stay inside commands.

`main` is the group (group.py); the commands register on it when their modules load: the data
commands (data.py) and the analysis commands (analysis.py). options.py holds what they share,
failures.py how a failure reaches the user.
"""

from posturetest.cli import analysis, data  # noqa: F401  (the commands register on main)
from posturetest.cli.failures import crash_report, describe_failure, fail
from posturetest.cli.group import main

__all__ = ["crash_report", "describe_failure", "fail", "main"]
