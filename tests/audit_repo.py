"""Scratch git histories for the ``daxlint audit`` tests: a kernel-like
tree (top Makefile naming the version) built commit by commit, with one day
between commits so dates and order are reproducible."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_COMMITTER_NAME": "Audit Tests",
    "GIT_COMMITTER_EMAIL": "audit@daxlint.invalid",
}


def makefile(version: str) -> str:
    major, minor = version.split(".")
    return f"# SPDX-License-Identifier: GPL-2.0\nVERSION = {major}\nPATCHLEVEL = {minor}\nSUBLEVEL = 0\nEXTRAVERSION =\n"


def mmap_writer(name: str, flag: str = "VM_IO") -> str:
    """A ->mmap writing vm_flags directly: DAX301 on v6.3+ at its third line."""
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\tvma->vm_flags |= {flag};\n\treturn 0;\n}}\n"


def mmap_clean(name: str) -> str:
    return f"static int {name}(struct file *file, struct vm_area_struct *vma)\n{{\n\tvm_flags_set(vma, VM_IO);\n\treturn 0;\n}}\n"


# A DAX provider that never maps pages itself (DAX201 at the .direct_access
# line, 14, unless a sibling file establishes ZONE_DEVICE pages).
PROVIDER = textwrap.dedent("""\
    /* A toy DAX provider. */

    static long toy_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
    			      enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
    {
    	struct toy *t = dax_get_private(dax_dev);

    	*kaddr = t->virt + PFN_PHYS(pgoff);
    	*pfn = phys_to_pfn_t(t->phys + PFN_PHYS(pgoff), PFN_DEV | PFN_MAP);
    	return nr_pages;
    }

    static const struct dax_operations toy_ops = {
    	.direct_access = toy_direct_access,
    };
    """)

SIBLING_PAGES = textwrap.dedent("""\
    /* ZONE_DEVICE pages for the toy provider. */

    int toy_map_pages(struct device *dev, struct toy *t)
    {
    	t->pgmap.type = MEMORY_DEVICE_FS_DAX;
    	t->virt = devm_memremap_pages(dev, &t->pgmap);
    	return PTR_ERR_OR_ZERO(t->virt);
    }
    """)

# PFN_SPECIAL set without the directory's Kconfig selecting FS_DAX_LIMITED:
# DAX102 at line 7.
XIP_DRIVER = textwrap.dedent("""\
    /* A toy XIP segment driver. */

    static long toy_xip_direct_access(struct dax_device *dax_dev, pgoff_t pgoff, long nr_pages,
    				  enum dax_access_mode mode, void **kaddr, pfn_t *pfn)
    {
    	struct toy_xip *tx = dax_get_private(dax_dev);
    	*pfn = __pfn_to_pfn_t(PFN_DOWN(tx->start) + pgoff, PFN_DEV | PFN_SPECIAL);
    	return nr_pages;
    }
    """)

XIP_KCONFIG = 'config TOY_XIP\n\ttristate "Toy XIP segments"\n\tselect DAX\n'
XIP_KCONFIG_LIMITED = 'config TOY_XIP\n\ttristate "Toy XIP segments"\n\tselect FS_DAX_LIMITED\n\tselect DAX\n'


class ScratchRepo:
    def __init__(self, path: Path, version: str | None = "6.3"):
        """A kernel-like tree whose top Makefile names ``version``; None
        makes an out-of-tree module's repository (no kernel Makefile)."""
        self.path = path
        self.day = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        if version is not None:
            self.write("Makefile", makefile(version))

    def git(self, *args: str, author: str = "Ann Author <ann@example.org>") -> str:
        name, email = author[:-1].split(" <")
        env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
        stamp = f"@{1704110400 + 86400 * self.day} +0000"  # 2024-01-01 12:00 UTC, a day per commit
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = stamp
        proc = subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=self.path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def write(self, rel: str, text: str) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def remove(self, rel: str) -> None:
        self.git("rm", "-q", rel)

    def move(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str, author: str = "Ann Author <ann@example.org>") -> str:
        self.day += 1
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, author=author)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev).strip()

    def checkout(self, *args: str) -> None:
        self.git("checkout", "-q", *args)

    def merge(self, branch: str, message: str) -> str:
        self.day += 1
        self.git("merge", "-q", "--no-ff", "-m", message, branch)
        return self.head()
