"""The corpus: the historical kernel changes behind the DAX policy, each
reproduced in C of our own (``corpus/NNN-name/{entry.toml,before/,after/}``),
run through the rules and compared with what the policy says they must find.
entries (loading and selecting), runner (running, upstream commits),
results (what was found, JSON). The CLI (daxlint/commands/corpus.py) draws it."""
