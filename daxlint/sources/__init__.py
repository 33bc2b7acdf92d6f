"""Where file contents come from: the disk (``tree``) or git objects
(``git``). Readers are read-only."""
