"""Kbuild's checker command line, and the build it describes.

Kbuild runs its checker (``make C=1 CHECK=...``) as it runs sparse, once per
compiled C file, after the compile succeeded:
``$(CHECK) $(CHECKFLAGS) $(c_flags) file.c``, through ``/bin/sh`` in the
object tree. That line is compiler style (``-D``, ``-U``, ``-I``,
``-include FILE``, about a hundred ``-W``/``-f``/``-m`` flags, sparse's
``--arch=``) and names everything that decides the file's ``#if``s:

- the kernel version, exactly: the generated ``linux/version.h`` on the
  include path (``LINUX_VERSION_MAJOR/PATCHLEVEL/SUBLEVEL``, or
  ``LINUX_VERSION_CODE`` in kernels before 5.14);
- the configuration, completely: the generated ``autoconf.h`` that
  ``-include .../linux/kconfig.h`` pulls in through the include path
  (``generated/autoconf.h``; ``linux/autoconf.h`` before 2.6.33, or
  ``-include``d directly). A ``CONFIG_`` symbol it does not define is off;
- the macros of the command line (``-D``/``-U`` in order: the module's
  ``ccflags-y``, ``-DMODULE``, ``KBUILD_MODNAME``) and of other ``-include``d
  files (a module's conftest header).

``parse_command_line()`` reads the line; ``build_facts()`` reads the files it
points to. Options the analysis does not need are ignored, unknown ones too:
Kbuild's flags change between releases."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from daxlint.core.build import BuildSetup, MacroSpec
from daxlint.core.directives import scan
from daxlint.core.preprocessor import evaluate_file
from daxlint.errors import InputError
from daxlint.model import Severity
from daxlint.sources.tree import read_regular
from daxlint.version import KernelVersion

# gcc options whose value is the next argument: skipped with it, so that the
# value is not taken for the file to check.
_TAKES_VALUE = frozenset(
    {
        "-o", "-x", "-MF", "-MT", "-MQ", "-Xpreprocessor", "-Xassembler", "-Xlinker", "-aux-info", "--param",
        "-imultilib", "-imultiarch", "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "--sysroot",
        "-T", "-e", "-u", "-z", "-L", "-l", "-A", "--include-directory",
    }
)  # fmt: skip
# Include directories, in the order the compiler searches them for <...>.
_DIR_OPTIONS = ("-I", "-isystem", "-idirafter")
_NAME = re.compile(r"[A-Za-z_]\w*")
_CONFIG_LINE = re.compile(rb"^#define (CONFIG_\w+) (.*)$", re.M)
_VERSION_FIELD = re.compile(
    rb"^#define (LINUX_VERSION_CODE|LINUX_VERSION_MAJOR|LINUX_VERSION_PATCHLEVEL|LINUX_VERSION_SUBLEVEL) +(\d+)\s*$", re.M
)
_AUTOCONF = ("generated/autoconf.h", "linux/autoconf.h")


@dataclass
class KbuildCommand:
    """One checker command line, read: the files, what decides their
    ``#if``s, and daxlint's own options (which may come first, from the
    ``CHECK`` variable, or anywhere, from ``CF=``)."""

    cwd: str
    sources: list[str] = field(default_factory=list)  # as given
    # -D/-U in command-line order: (name, spec); a later one wins
    macros: list[tuple[str, MacroSpec]] = field(default_factory=list)
    include_dirs: list[str] = field(default_factory=list)  # absolute, in search order
    forced_includes: list[str] = field(default_factory=list)  # -include/-imacros FILE, absolute
    fail_on: Severity | None = None  # findings at or above it are errors and fail the build
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    no_cache: bool = False
    config_path: str | None = None
    want_help: bool = False
    color: str = "auto"  # --color, or gcc's -fdiagnostics-color: auto, always or never

    def absolute(self, path: str) -> str:
        """``path`` as the compiler, run in ``cwd``, opens it."""
        return os.path.normpath(os.path.join(self.cwd, path))


def _define(text: str) -> tuple[str, MacroSpec] | None:
    """-D NAME, NAME=VALUE or NAME(args)=BODY (a function-like macro is
    defined; its value is never read by a condition)."""
    name, sep, value = text.partition("=")
    m = _NAME.match(name)
    if not m:
        return None
    if m.end() < len(name):
        return (m.group(0), MacroSpec("")) if name[m.end()] == "(" else None
    return name, MacroSpec(value if sep else "1")


def parse_command_line(args: list[str], cwd: str) -> KbuildCommand:
    """Read ``$(CHECK) $(CHECKFLAGS) $(c_flags) file.c`` (without the
    program). Relative paths are the compiler's, relative to ``cwd``."""
    cmd = KbuildCommand(cwd=cwd)
    i = 0

    def value(opt: str) -> str:
        nonlocal i
        if i + 1 >= len(args):
            raise InputError(f"{opt} needs a value")
        i += 1
        return args[i]

    while i < len(args):
        a = args[i]
        if a in ("-D", "-U"):
            text = value(a)
            a = a + text
        if a.startswith("-D"):
            d = _define(a[2:])
            if d is None:
                raise InputError(f"{a}: not a macro name")
            cmd.macros.append(d)
        elif a.startswith("-U"):
            name = a[2:]
            if not _NAME.fullmatch(name):
                raise InputError(f"{a}: not a macro name")
            cmd.macros.append((name, MacroSpec(None)))
        elif a in _DIR_OPTIONS:
            cmd.include_dirs.append(cmd.absolute(value(a)))
        elif a.startswith("-I") and a != "-I-":
            cmd.include_dirs.append(cmd.absolute(a[2:]))
        elif a in ("-include", "-imacros"):
            cmd.forced_includes.append(cmd.absolute(value(a)))
        elif a in ("--werror", "-Wsparse-error"):
            cmd.fail_on = Severity.WARNING
        elif a == "-Wno-sparse-error":
            cmd.fail_on = None
        elif a == "--fail-on" or a.startswith("--fail-on="):
            cmd.fail_on = Severity.parse(a.partition("=")[2] or value(a))
        elif a in ("--select", "--ignore") or a.startswith(("--select=", "--ignore=")):
            opt, _, text = a.partition("=")
            ids = [x.strip() for x in (text or value(a)).split(",") if x.strip()]
            (cmd.select if opt == "--select" else cmd.ignore).extend(ids)
        elif a == "--no-cache":
            cmd.no_cache = True
        elif a == "--config" or a.startswith("--config="):
            cmd.config_path = cmd.absolute(a.partition("=")[2] or value(a))
        elif a in ("-h", "--help"):
            cmd.want_help = True
        elif a == "--color" or a.startswith(("--color=", "-fdiagnostics-color")) or a == "-fno-diagnostics-color":
            # gcc's own flag too: KCFLAGS=-fdiagnostics-color=always colours both.
            when = "never" if a.startswith("-fno-") else a.partition("=")[2] or (value(a) if a == "--color" else "always")
            if when not in ("auto", "always", "never"):
                raise InputError(f"{a}: the colour is auto, always or never")
            cmd.color = when
        elif a in _TAKES_VALUE:
            value(a)
        elif a.startswith("-") and a != "-":
            pass  # -W..., -f..., -m..., -O2, -nostdinc, -std=, --arch=, sparse's own flags
        else:
            cmd.sources.append(a)
        i += 1
    return cmd


# -- what the build's generated headers say ---------------------------------------


@dataclass
class BuildFacts:
    """The kernel version and the build setup a command line describes, and
    where they came from (for messages)."""

    version: KernelVersion | None
    setup: BuildSetup
    version_file: str | None = None
    autoconf: str | None = None
    notes: list[str] = field(default_factory=list)


def find_header(name: str, dirs: list[str]) -> str | None:
    """``<name>`` as the compiler finds it on the include path."""
    for d in dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def _read(path: str) -> bytes:
    try:
        return read_regular(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None


def read_version_header(data: bytes) -> tuple[KernelVersion, int] | None:
    """(version, sublevel) from a generated linux/version.h: the
    LINUX_VERSION_* fields (5.14+) or LINUX_VERSION_CODE, whose sublevel
    saturates at 255."""
    fields = {k.decode(): int(v) for k, v in _VERSION_FIELD.findall(data)}
    if "LINUX_VERSION_MAJOR" in fields and "LINUX_VERSION_PATCHLEVEL" in fields:
        return KernelVersion(fields["LINUX_VERSION_MAJOR"], fields["LINUX_VERSION_PATCHLEVEL"]), fields.get("LINUX_VERSION_SUBLEVEL", 0)
    code = fields.get("LINUX_VERSION_CODE")
    if code is None:
        return None
    return KernelVersion(code >> 16, (code >> 8) & 0xFF), code & 0xFF


def read_autoconf(data: bytes) -> dict[str, MacroSpec]:
    """``#define CONFIG_X 1`` (built in), ``CONFIG_X_MODULE 1`` (a module),
    values and strings: every symbol the configuration sets."""
    return {name.decode(): MacroSpec(value.decode("utf-8", "replace").strip()) for name, value in _CONFIG_LINE.findall(data)}


def _version_from_env(env: dict[str, str]) -> tuple[KernelVersion, int] | None:
    """VERSION/PATCHLEVEL/SUBLEVEL, which Kbuild exports to the checker."""
    try:
        return KernelVersion(int(env["VERSION"]), int(env["PATCHLEVEL"])), int(env.get("SUBLEVEL") or 0)
    except (KeyError, ValueError):
        return None


def _header_defines(data: bytes, setup: BuildSetup, version: KernelVersion) -> dict[str, MacroSpec]:
    """The macros a forced include certainly defines or undefines, its own
    conditions evaluated for this build (its #includes are not followed)."""
    ev = evaluate_file(scan(data), setup.lookup(version))
    out = {}
    for name, (defined, val) in ev.defines.items():
        if defined is True:
            out[name] = MacroSpec(val if isinstance(val, str) else "")
        elif defined is False:
            out[name] = MacroSpec(None)
        # UNKNOWN (defined on a path this build may not take): left alone
    return out


def build_facts(cmd: KbuildCommand, env: dict[str, str], config_macros: dict[str, MacroSpec] | None = None) -> BuildFacts:
    """The version and the BuildSetup of the build ``cmd`` describes:
    config [macros] first, then the configuration, the command line's
    -D/-U in order and the forced includes' own macros, as the compiler
    reads them."""
    notes: list[str] = []
    version_file = find_header("linux/version.h", cmd.include_dirs)
    found = read_version_header(_read(version_file)) if version_file else None
    if found is None:
        found = _version_from_env(env)
        if found is not None:
            notes.append("no generated linux/version.h on the include path; the version is Kbuild's VERSION/PATCHLEVEL/SUBLEVEL")
        version_file = None
    version, sublevel = found if found is not None else (None, None)

    autoconf = next((p for p in cmd.forced_includes if os.path.basename(p) == "autoconf.h"), None)
    if autoconf is None:
        autoconf = next((p for p in (find_header(n, cmd.include_dirs) for n in _AUTOCONF) if p), None)
    macros: dict[str, MacroSpec] = dict(config_macros or {})
    if autoconf is not None:
        macros.update(read_autoconf(_read(autoconf)))
    else:
        notes.append("no generated autoconf.h on the include path: CONFIG_ options are unknown (is this a Kbuild command line?)")
    macros.update(cmd.macros)
    setup = BuildSetup(macros, sublevel=sublevel, config_complete=autoconf is not None)
    if version is not None:
        for path in cmd.forced_includes:
            if path == autoconf or os.path.basename(path) == "kconfig.h":
                continue  # kconfig.h: the configuration, read above
            setup.macros.update(_header_defines(_read(path), setup, version))
    return BuildFacts(version, setup, version_file, autoconf, notes)
