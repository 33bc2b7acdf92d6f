"""CLI subcommands; each module exposes ``command`` (or ``commands``)."""
