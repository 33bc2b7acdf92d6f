"""daxlint: a static analyzer for the Linux kernel's DAX policy.

The library (engine, rules, outputs) knows nothing of terminals; the CLI in
daxlint.cli is a thin layer over it.
"""

__version__ = "0.1.0"
