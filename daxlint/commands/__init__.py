"""CLI subcommands, one module each; daxlint.cli adds them to the group."""
