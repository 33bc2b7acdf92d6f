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

# What differs between two runs of one audit: timings, and how many files were
# analysed (depends on how far ahead the auditor planned and when results
# reached the store).
VOLATILE = {"elapsed_seconds", "commits_per_second", "files_analysed"}


def without_volatile(doc):
    """An audit document minus VOLATILE keys, at any depth, for comparing runs."""
    if isinstance(doc, dict):
        return {k: without_volatile(v) for k, v in doc.items() if k not in VOLATILE}
    if isinstance(doc, list):
        return [without_volatile(x) for x in doc]
    return doc


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


def _filler(name: str, n: int) -> str:
    """A plain C file of ``n`` small functions (no trigger token)."""
    return "".join(f"static int {name}_f{i}(int x)\n{{\n\treturn x + {i};\n}}\n\n" for i in range(n))


def synthetic_history(path: Path, commits: int = 300, seed: int = 1) -> tuple[str, str]:
    """A benchmark-like history on a small kernel-like tree (v6.3), made
    with git fast-import in one go: everyday edits that shift lines,
    edits of files carrying the rules' tokens, commits that bring in or
    remove a direct vm_flags write (DAX301), Kconfig edits, renames, new
    and deleted files. Returns (base commit, tip commit) of branch main."""
    import random

    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env={**os.environ, **GIT_ENV})
    files: dict[str, str] = {"Makefile": makefile("6.3")}
    for i in range(24):
        d = f"drivers/d{i:02}"
        body = _filler(f"d{i}", 3 + i % 4)
        if i % 4 == 0:
            body += mmap_writer(f"d{i}_mmap")
        elif i % 4 == 1:
            body += mmap_clean(f"d{i}_mmap")
        files[f"{d}/d{i:02}.c"] = body
        if i % 3 == 0:
            files[f"{d}/Kconfig"] = f'config D{i}\n\ttristate "driver {i}"\n'
    files["drivers/toy/toy_core.c"] = PROVIDER
    files["drivers/xip/xip.c"] = XIP_DRIVER
    files["drivers/xip/Kconfig"] = XIP_KCONFIG
    out: list[bytes] = []

    def emit(i: int, message: str, changes: dict[str, str | None]) -> None:
        stamp = 1704110400 + 3600 * i
        out.append(b"commit refs/heads/main\nmark :%d\n" % (i + 1))
        out.append(b"author Synth %d <synth%d@example.org> %d +0000\n" % (i % 5, i % 5, stamp))
        out.append(b"committer Audit Tests <audit@daxlint.invalid> %d +0000\n" % stamp)
        msg = message.encode()
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for p, text in sorted(changes.items()):
            if text is None:
                out.append(b"D %s\n" % p.encode())
            else:
                data = text.encode()
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (p.encode(), len(data), data))

    emit(0, "base", dict(files))
    introduced: list[tuple[str, str]] = []
    for i in range(1, commits + 1):
        c_files = sorted(p for p in files if p.endswith(".c"))
        roll = rng.random()
        changes: dict[str, str | None] = {}
        if roll < 0.45:
            kind = "edit"
            for p in rng.sample(c_files, rng.randint(1, 3)):
                changes[p] = f"/* edit {i} */\n" + files[p]
        elif roll < 0.6:
            kind = "edit token file"
            p = rng.choice([p for p in c_files if "vm_flags" in files[p] or "direct_access" in files[p]] or c_files)
            changes[p] = files[p] + f"/* note {i} */\n"
        elif roll < 0.72:
            kind = "introduce"
            p = rng.choice(c_files)
            fn = f"s{i}_mmap"
            changes[p] = files[p] + "\n" + mmap_writer(fn)
            introduced.append((p, fn))
        elif roll < 0.82 and introduced:
            kind = "fix"
            p, fn = introduced.pop(rng.randrange(len(introduced)))
            if p in files and mmap_writer(fn) in files[p]:
                changes[p] = files[p].replace(mmap_writer(fn), mmap_clean(fn))
        elif roll < 0.87:
            kind = "kconfig"
            p = rng.choice(sorted(p for p in files if p.endswith("Kconfig")))
            changes[p] = files[p] + f"\n# note {i}\n"
        elif roll < 0.92:
            kind = "rename"
            p = rng.choice(c_files)
            new = p[:-2] + f"_r{i}.c"
            changes[p], changes[new] = None, files[p]
            introduced = [(new if q == p else q, fn) for q, fn in introduced]
        elif roll < 0.97:
            kind = "new file"
            d = rng.choice(c_files).rsplit("/", 1)[0]
            changes[f"{d}/new_{i}.c"] = _filler(f"n{i}", 2)
        else:
            kind = "delete"
            p = rng.choice(c_files)
            changes[p] = None
            introduced = [(q, fn) for q, fn in introduced if q != p]
        if not changes:
            kind = "edit"
            p = rng.choice(c_files)
            changes[p] = f"/* edit {i} */\n" + files[p]
        for p, text in changes.items():
            if text is None:
                files.pop(p, None)
            else:
                files[p] = text
        emit(i, f"synth {i}: {kind}", changes)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True, env=env)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True, env=env)
    revs = subprocess.run(["git", "rev-list", "--reverse", "main"], cwd=path, check=True, env=env, capture_output=True, text=True)
    shas = revs.stdout.split()
    return shas[0], shas[-1]
