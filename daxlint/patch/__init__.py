"""Patch mode: check a patch series before ``git send-email``, where kernel
developers run checkpatch.pl, but for the DAX policy.

A series comes from mbox files, ``git format-patch`` files, a bare diff,
standard input, or the commits of a git range. Mail is parsed with the
standard library (mailbox, email) and diffs with unidiff.

Each patch is then applied in turn to a copy of the tree that lives in
memory: the files the series touched so far, with every other file read from
a base - the user's kernel tree (``--tree``), a commit (``--git``), or
nothing at all. Nothing is ever written to the user's tree, index or HEAD.

Findings are kept only where a patch adds or changes lines, and each names
the patch that introduced it. A finding whose line a later patch of the
series removes is marked ``fixed_by`` that patch: the series does not
bisect cleanly there.

Without a tree, a file the series did not create is known only by its
hunks: rules run on the hunks' new side and context, laid out at their real
line numbers. When a hunk starts inside a function, the function line from
the hunk header is put back in the gap above it, so rules see the function
and its parameters even though the rest of the function is missing."""
