"""posturetest: run and record posture stress tests in the terminal.

Kept empty on purpose: importing the package must not pull in Textual or the store.
"""

__version__ = "0.1.0"
