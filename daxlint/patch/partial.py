"""A file known only by its hunks (no tree to apply them to): its lines at
their line numbers, with what rules need to read them as code put back in
the gaps - the function a hunk starts inside, an open comment, the
Kconfig entry an indented hunk continues."""

from __future__ import annotations

import re

from daxlint.core.files import file_kind
from daxlint.lines import split_lines
from daxlint.patch.apply import Placement
from daxlint.patch.mail import FileDiff

_STRINGS_AND_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/|//[^\n]*', re.S)
_NO_RETURN_TYPE = re.compile(r"^[A-Za-z_]\w*\s*\(")
_KCONFIG_ENTRY = re.compile(r"^(?:menu)?config\s+\w+\s*$")
# A line of declaration specifiers only: the return type that kernel style
# (XFS, fs/dax.c) puts on a line of its own above the function's name.
_TYPE_LINE = re.compile(r"^(?:[A-Za-z_]\w*[ \t]+)*[A-Za-z_]\w*[ \t]*\**$")
_NOT_TYPES = frozenset({"return", "else", "do", "goto", "case", "default", "break", "continue"})


def _code_of(text: str) -> str:
    """``text`` without strings and comments, for counting braces."""
    return _STRINGS_AND_COMMENTS.sub(" ", text)


def _unopened_blocks(code: str) -> int:
    """Blocks inside a function that the text closes without showing where
    they open. A ``}`` in column 0 closes the function itself (kernel style)
    and is not one of them."""
    depth = low = blocks = 0
    for line in split_lines(code):
        for ch in line:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth < low:
                    low = depth
                    blocks += not line.startswith("}")
    return blocks


def _signature(section: str) -> str | None:
    """The hunk header's line as a complete declarator, or None when it is
    not a function (or an initializer opening a brace)."""
    section = section.strip()
    if not section or section.startswith("#") or section.endswith(";"):
        return None
    if section.endswith("{"):
        return section
    if "(" not in section:
        return None
    # git cuts the line at 80 columns and a signature may go on over several
    # lines: close what is open so the parameters that are there count.
    opened = section.count("(") - section.count(")")
    section = section.rstrip(", \t") + ")" * max(opened, 0)
    if _NO_RETURN_TYPE.match(section):
        section = "int " + section  # kernel style puts the return type on the line above
    return section


def _is_type_line(section: str) -> bool:
    words = section.replace("*", " ").split()
    return bool(_TYPE_LINE.match(section)) and not _NOT_TYPES.intersection(words) and not section.startswith("#")


def _continues_declarator(section: str, code: str) -> bool:
    """Whether the hunk starts inside the parameter list the header opens
    (``xfs_file_mmap(`` and then ``\tstruct vm_area_struct *vma)`` / ``{``):
    the header line and the hunk's first lines are one declarator."""
    opened = section.count("(") - section.count(")")
    if opened <= 0 or section.rstrip().endswith(";"):
        return False
    lines = [x for x in split_lines(code) if x.strip()]
    for i, line in enumerate(lines):
        if ";" in line or line.startswith("{"):
            return False
        opened += line.count("(") - line.count(")")
        if opened < 0:
            return False
        if opened == 0:
            rest = line[line.rfind(")") + 1 :].strip()
            if rest == "{":
                return True
            return rest == "" and i + 1 < len(lines) and lines[i + 1].startswith("{")
    return False


def _reopen(body: str, section: str) -> tuple[str, int, str]:
    """What to put in the gap above a hunk so that its text sits where it
    was: (text, scopes it opens, the hunk's text as code). A hunk that
    starts inside a function gets the function back from the hunk header,
    one that starts inside a comment gets the comment opened."""
    # The hunk starts inside a comment when it closes one before opening any.
    close, open_ = body.find("*/"), body.find("/*")
    in_comment = close >= 0 and (open_ < 0 or close < open_)
    code = _code_of("/*" + body if in_comment else body)
    first = next((x for x in split_lines(code) if x.strip() and not x.lstrip().startswith("#")), "")
    signature = _signature(section)
    text, depth = "", 0
    if _continues_declarator(section, code):
        # The header's line and the hunk's first lines are one signature.
        text = ("int " + section) if _NO_RETURN_TYPE.match(section) else section
    elif _NO_RETURN_TYPE.match(first) and _is_type_line(section):
        text = section  # the hunk starts at the name; the header is the return type above it
    elif first.startswith("{") and signature and not signature.endswith("{"):
        text = signature  # the hunk opens the function's body itself
    elif first[:1] in (" ", "\t", "}") or (in_comment and not first):
        if signature:
            blocks = _unopened_blocks(code)
            text = (signature if signature.endswith("{") else signature + " {") + " {" * blocks
            depth = 1 + blocks
    if in_comment:
        text += " /*"
    return text.strip(), depth, code


def _reopen_kconfig(body: str, section: str) -> str:
    """For Kconfig: the ``config FOO`` line of the entry an indented hunk
    continues, so its ``select`` and ``depends on`` lines have an owner."""
    first = next((x for x in split_lines(body) if x.strip() and not x.lstrip().startswith("#")), "")
    if first[:1] in (" ", "\t") and _KCONFIG_ENTRY.match(section):
        return section
    return ""


def partial_text(fd: FileDiff, placements: list[Placement], side: str = "new") -> bytes:
    """One side of a file known only by its hunks: their lines at their
    line numbers, blank lines between them, and in the gap above a hunk
    that starts inside a function, that function's line from the hunk
    header - so rules see its parameters and that the code is in a body."""
    lines: dict[int, str] = {}
    spans: list[tuple[int, int, object]] = []  # (first line, last line, hunk)
    for pl in placements:
        start = (pl.new_start if side == "new" else pl.old_start) + 1
        n = start
        for ln in pl.hunk:
            if ln.line_type == " " or ln.line_type == ("+" if side == "new" else "-"):
                lines[n] = ln.value if ln.value.endswith("\n") else ln.value + "\n"
                n += 1
        spans.append((start, n - 1, pl.hunk))
    if not lines:
        return b""
    kconfig = file_kind(fd.path) == "kconfig"
    depth = 0
    prev_end = 0
    prev_section = None
    openers: dict[int, str] = {}
    for start, end, hunk in spans:
        body = "".join(lines.get(i, "") for i in range(start, end + 1))
        section = (hunk.section_header or "").strip()
        if kconfig:
            text, opens, code = _reopen_kconfig(body, section), 0, ""
        else:
            text, opens, code = _reopen(body, section)
        same_function = depth > 0 and section == prev_section and opens > 0
        if start > prev_end + 1 and not same_function:
            # A new scope: close what the previous hunk left open first.
            text = ("} " * depth + text).strip()
            if text:
                openers[start - 1] = text + "\n"
            depth = opens
        depth = max(depth + code.count("{") - code.count("}"), 0)
        prev_end = end
        prev_section = section
    last = max(lines)
    out = []
    for i in range(1, last + 1):
        out.append(lines.get(i) or openers.get(i) or "\n")
    if depth:
        out.append("} " * depth + "\n")
    return "".join(out).encode("utf-8", "surrogateescape")
