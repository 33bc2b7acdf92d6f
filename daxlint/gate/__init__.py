"""The CI gate around ``daxlint check``: changed lines since a git revision (``--diff``) and baselines."""
