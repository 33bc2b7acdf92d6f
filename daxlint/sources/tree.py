"""Reading a kernel tree on disk, for rules that look beyond the file they
check (a directory's Kconfig, sibling sources)."""

from __future__ import annotations

import os


class TreeReader:
    """How rules read files other than the one being checked (a directory's
    Kconfig, sibling sources). The default reads the disk; patch and audit
    modes substitute readers over a patched copy or git objects."""

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError:
            return None

    def read_if(self, path: str, relevant, why: str) -> bytes | None:
        """The file's bytes when ``relevant(data)``, else None (also when it
        cannot be read). ``why`` names the test completely: a reader that
        records what a verdict read (GitTreeReader) records a file found
        irrelevant by it rather than by its contents, so that an edit which
        leaves it irrelevant does not make the verdict stale."""
        data = self.read(path)
        return data if data is not None and relevant(data) else None

    def listdir(self, directory: str) -> list[str]:
        try:
            return sorted(os.listdir(directory))
        except OSError:
            return []

    def known(self, path: str) -> bool:
        """Whether read(path) tells the whole truth about the file: its bytes,
        or that it does not exist. On disk it always does; a patch checked
        without its tree knows only some files (see patch/series.py)."""
        return True

    def listing_complete(self, directory: str) -> bool:
        """Whether listdir(directory) names every file there is."""
        return True

    def shown(self, path: str) -> str | None:
        """For a file known only in part: the lines of it a patch series
        has shown so far (its hunks); None otherwise."""
        return None

    def signature(self, path: str):
        """Something that changes when the file changes (for cache keys)."""
        try:
            st = os.stat(path)
            return (st.st_size, st.st_mtime_ns)
        except OSError:
            return None
