"""The outputs of ``daxlint audit`` a person looks at: the rich terminal view
and the self-contained HTML report (also rendered in headless Chromium when
it is installed: apt-get install chromium)."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from audit_repo import ScratchRepo, mmap_clean, mmap_writer
from conftest import run_daxlint
from daxlint.audit.auditor import AuditOptions, Auditor
from daxlint.audit.excerpt import diff_excerpt
from daxlint.audit.store import AuditStore
from daxlint.core.registry import select_rules
from daxlint.output.audit.html import chart_svg, render_html
from daxlint.output.audit.rich_view import print_audit, sparkline
from daxlint.sources.git import GitRepo


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Three drivers gain direct vm_flags writes over time; one is fixed."""
    r = ScratchRepo(tmp_path_factory.mktemp("audit-report") / "linux")
    r.write("drivers/misc/other.c", "int other;\n")
    r.commit("base")
    for name in ("alpha", "beta", "gamma"):
        r.write(f"drivers/{name}/{name}.c", f"/* {name} */\n\n" + mmap_writer(f"{name}_mmap"))
        r.commit(f"{name}: add mmap")
        r.write("drivers/misc/other.c", f"int other; /* after {name} */\n")
        r.commit(f"misc: unrelated change after {name}")
    r.write("drivers/beta/beta.c", "/* beta */\n\n" + mmap_clean("beta_mmap"))
    r.commit("beta: use vm_flags_set")
    return r


@pytest.fixture(scope="module")
def result(history):
    return Auditor(GitRepo(history.path), select_rules(), AuditStore(":memory:"), AuditOptions(jobs=1)).run(["HEAD~7..HEAD"])


def test_rich_view_has_table_timeline_and_totals(result, history):
    from rich.console import Console

    console = Console(record=True, width=200, force_terminal=False, color_system=None, file=io.StringIO())
    print_audit(result, console)
    text = console.export_text().replace("│", " ").replace("┃", " ")
    alpha = history.head("HEAD~6")[:12]
    assert re.search(rf"{alpha}\s+2024-01-03\s+Ann Author\s+alpha: add mmap\s+1\s+1", text), text
    assert "beta: use vm_flags_set" in text
    timeline = next(line for line in text.splitlines() if line.lstrip().startswith("DAX3xx vm_flags"))
    assert re.search(r"DAX3xx vm_flags\s+0\s+[▁▂▃▄▅▆▇█]+\s+2", timeline), timeline
    assert "introducing commits" in text and "▲" in text
    assert re.search(r"DAX301\s+direct-vm-flags-write\s+3\s+1\s+0\s+2\s+2", text), text
    assert text.rstrip().splitlines()[-1].startswith("Audited 7 commits of HEAD~7..HEAD")
    assert "2 of those introduced still open" in text


def test_sparkline_scales_and_squeezes():
    assert sparkline([0, 1, 2, 3], 10) == "▁▃▆█"
    assert sparkline([5, 5, 5], 10) == "▄▄▄"
    assert len(sparkline(list(range(100)), 20)) == 20


def test_html_report_is_self_contained_and_linked(result, history, tmp_path):
    page = render_html(result, excerpt=lambda c, f, side: diff_excerpt(GitRepo(history.path), c.sha, c.parents[0], f.path, f.line, side))
    # Nothing is fetched from elsewhere: no scripts, stylesheets, fonts or images by URL.
    assert not re.search(r"<script|<link|<img|url\(|@import", page)
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    # Every in-page link lands on an element.
    ids = set(re.findall(r'id="([^"]+)"', page))
    targets = set(re.findall(r'href="#([^"]+)"', page))
    assert targets and targets <= ids, targets - ids
    for _name, back in (("alpha", 6), ("beta", 4), ("gamma", 2)):
        assert f'id="c-{history.head(f"HEAD~{back}")[:12]}"' in page
    # The introduced line is shown in its diff, marked; the fixed one too.
    assert re.search(r'<span class="l add hit">.*vma-&gt;vm_flags \|= VM_IO;</span>', page)
    assert re.search(r'<span class="l del hit">.*vma-&gt;vm_flags \|= VM_IO;</span>', page)
    assert page.count('class="pill open">still open') == 2 and page.count('class="pill out">fixed later') == 1
    assert re.search(
        r"<td><b>DAX301</b></td><td>direct-vm-flags-write</td><td>DAX3xx vm_flags</td>"
        r'<td class="num">3</td><td class="num">1</td><td class="num">0</td><td class="num">2</td><td class="num">2</td>',
        page,
    )


def test_chart_follows_open_counts(result):
    svg = chart_svg(result)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    # One step path for the family, a hover point per change (3 up, 1 down)
    # and a mark under each of the three introducing commits.
    assert svg.count('class="series"') == 1
    assert svg.count("<circle") == 4
    assert svg.count('class="mark"><title>') == 3
    assert "DAX3xx vm_flags: 1 → 2" in svg


def test_html_option_writes_the_report(history, tmp_path):
    out = tmp_path / "audit.html"
    code, stdout, err = run_daxlint(
        "audit",
        "--repo",
        str(history.path),
        "--no-cache",
        "--html",
        str(out),
        "--diff-url",
        "https://example.org/linux/commit/{sha}#diff-{path_sha256}R{line}",
        "HEAD~7..HEAD",
    )
    assert code == 1, err
    page = out.read_text()
    assert "<svg" in page and "Commits that introduced or fixed findings" in page
    gamma = history.head("HEAD~2")
    assert f"https://example.org/linux/commit/{gamma}#diff-" in page


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
        prev = line
    return width, height, rows


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(result, history, tmp_path):
    page = tmp_path / "audit.html"
    page.write_text(
        render_html(result, excerpt=lambda c, f, side: diff_excerpt(GitRepo(history.path), c.sha, c.parents[0], f.path, f.line, side))
    )
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--hide-scrollbars",
    ]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "DAX policy audit of" in dom and "<svg" in dom and "alpha: add mmap" in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, "--window-size=1200,900", f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)

    def has(colour: bytes, y0: int, y1: int) -> bool:
        return any(any(row[i : i + 3] == colour for i in range(0, len(row), 3)) for row in rows[y0:y1])

    assert has(bytes.fromhex("1d2330"), 0, 40)  # the header band
    assert has(bytes.fromhex("e67e00"), 150, 600)  # the DAX3 line of the chart was drawn
    assert len({row for row in rows}) > 100  # a page, not a blank
