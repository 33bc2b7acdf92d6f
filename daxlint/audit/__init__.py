"""Batch audit of a git history (``daxlint audit``): which commits brought
DAX policy findings in, and which took them out.

How it stays fast on kernel histories:

- Blobs are read from the object store with pygit2: no checkout, and the
  work tree is never looked at.
- The range's base tree is analysed once, and most of its blobs fail the
  engine's token prefilter so they are never parsed. After that a commit
  re-analyses only the files it touches, plus the few files whose verdict
  read a file it touches (a directory's Kconfig, a sibling source).
- Results are stored per blob (``daxlint.audit.store``), so a blob is
  analysed once per kernel version and rule set, however many commits and
  ranges contain it; audited commits are stored too, so an interrupted run
  resumes and a repeated or extended range reads the store.
- Files are analysed on a pool of processes while the main process walks
  ahead through the commits; commits are then finished in order.

"Introduced" and "fixed" are set differences of finding fingerprints per
file. Fingerprints ignore line numbers, so code that moves inside a file is
neither; a finding whose code went to another file (a rename, a function
moved) is reported as moved.
"""
