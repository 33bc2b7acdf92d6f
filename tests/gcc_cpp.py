"""gcc's preprocessor as the oracle for ``#if`` arithmetic: many conditions
are written into one file, ``gcc -E`` runs once over it, and each
condition's verdict is read back - whether gcc took it, whether its value
is signed (``(E) - (E) - 1 < 0`` holds only for a signed E), whether it
equals the value daxlint computed, and whether gcc refused it (an error)
or only guessed (a constant too large for ``uintmax_t``, which gcc
truncates and clang refuses)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

GCC = shutil.which("gcc")
INTMAX_MIN = -(1 << 63)
_DIAGNOSTIC = re.compile(r"^[^:]*:(\d+):\d+: (error|warning): (.*)$", re.M)


@dataclass
class Verdict:
    refused: bool  # an error, or a constant gcc truncated
    taken: bool
    signed: bool
    equal: bool | None  # None: no value to compare with


def c_literal(value: int) -> str:
    """A C spelling of a daxlint value with its type: ``5``, ``(-3)``,
    ``18446744073709551615u``."""
    from daxlint.core.cinteger import Unsigned

    if isinstance(value, Unsigned):
        return f"{int(value)}u"
    if value == INTMAX_MIN:
        return "(-9223372036854775807 - 1)"
    return f"({int(value)})" if value < 0 else str(int(value))


def gcc_verdicts(conditions: list[tuple[str, str | None]], unsigned_char: bool = False) -> list[Verdict]:
    """Each (condition, C literal or None) as gcc -E decides it."""
    lines: list[str] = []
    spans: list[tuple[int, int]] = []
    for i, (expr, literal) in enumerate(conditions):
        first = len(lines) + 1
        lines += [f"#if {expr}", f"V{i} taken", "#endif"]
        lines += [f"#if ((({expr}) - ({expr}) - 1) < 0)", f"V{i} signed", "#endif"]
        if literal is not None:
            lines += [f"#if ({expr}) == {literal}", f"V{i} equal", "#endif"]
        spans.append((first, len(lines)))
    with tempfile.TemporaryDirectory(prefix="daxlint-gcc-") as tmp:
        src = Path(tmp, "conditions.c")
        src.write_text("\n".join(lines) + "\n")
        args = [GCC, "-E", "-P", "-std=gnu11", "-Wno-multichar", str(src)]
        if unsigned_char:
            args.insert(1, "-funsigned-char")
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    out = set(proc.stdout.split("\n"))
    refused_lines = {
        int(m.group(1)) for m in _DIAGNOSTIC.finditer(proc.stderr) if m.group(2) == "error" or "too large for its type" in m.group(3)
    }
    verdicts = []
    for i, ((_expr, literal), (first, last)) in enumerate(zip(conditions, spans)):
        verdicts.append(
            Verdict(
                refused=any(first <= n <= last for n in refused_lines),
                taken=f"V{i} taken" in out,
                signed=f"V{i} signed" in out,
                equal=None if literal is None else f"V{i} equal" in out,
            )
        )
    return verdicts


def _char_readings(expr: str) -> dict[bool, object]:
    """What daxlint computes for ``expr`` with its one-character constants
    read as signed char and as unsigned char (-funsigned-char): each
    constant replaced by a literal of that value and type."""
    from daxlint.core.cinteger import Char, char_literal
    from daxlint.core.preprocessor import Macros, evaluate, tokens

    macros = Macros(lambda name: (False, None))
    readings = {}
    for unsigned_char in (False, True):
        out = []
        for tok in tokens(expr) or []:
            value = char_literal(tok) if tok.startswith("'") else None
            if isinstance(value, Char):
                tok = c_literal(value.as_unsigned() if unsigned_char else value.as_signed())
            out.append(tok)
        readings[unsigned_char] = evaluate(" ".join(out), macros)
    return readings


def disagreements(conditions: list[str], allowed_unknown=lambda expr: False) -> list[str]:
    """Where daxlint's evaluator and gcc (with signed and with unsigned
    ``char``) differ. A decided value must be gcc's - taken or not, signed
    or not, equal - in both modes. Where daxlint says UNKNOWN because a
    character constant's signedness decides, each reading of it must be
    gcc's in its mode. UNKNOWN otherwise only where gcc refuses the
    condition or ``allowed_unknown(expr)`` says C leaves it undefined."""
    from daxlint.core.cinteger import Char, Unsigned
    from daxlint.core.preprocessor import UNKNOWN, Macros, evaluate

    macros = Macros(lambda name: (False, None))
    expected: list[dict[bool, object]] = []
    for expr in conditions:
        value = evaluate(expr, macros)
        if value is UNKNOWN and "'" in expr:
            expected.append(_char_readings(expr))
        elif isinstance(value, Char):
            expected.append({False: value.as_signed(), True: value.as_unsigned()})
        else:
            expected.append({False: value, True: value})
    modes = {
        mode: gcc_verdicts([(e, None if want[mode] is UNKNOWN else c_literal(want[mode])) for e, want in zip(conditions, expected)], mode)
        for mode in (False, True)
    }
    wrong = []
    for i, expr in enumerate(conditions):
        for unsigned_char, verdicts in modes.items():
            verdict, value = verdicts[i], expected[i][unsigned_char]
            mode = "-funsigned-char" if unsigned_char else "signed char"
            if value is UNKNOWN:
                if not (verdict.refused or allowed_unknown(expr)):
                    wrong.append(f"{expr}: daxlint UNKNOWN, gcc ({mode}) decides it (taken={verdict.taken})")
                continue
            got = (verdict.refused, verdict.taken, verdict.signed, verdict.equal)
            want = (False, value != 0, not isinstance(value, Unsigned), True)
            if got != want:
                wrong.append(f"{expr}: daxlint {value!r}; gcc ({mode}) refused/taken/signed/equal {got}, expected {want}")
    return wrong
