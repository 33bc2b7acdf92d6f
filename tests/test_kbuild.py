"""``daxlint kbuild`` without a kernel build: the command line Kbuild passes
(its shape as recorded from Debian's 6.1 and 6.12 headers: CHECKFLAGS,
-Wp,-MMD, -nostdinc, srctree/objtree -I pairs with the objtree ones
relative to the object tree Kbuild runs in, three -include's, about a
hundred gcc flags, the module's ccflags-y, -DMODULE and KBUILD_MODNAME),
replayed on a small made-up object tree. tests/test_kbuild_real.py runs
the real Kbuild."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import run_daxlint
from daxlint.core.build import MacroSpec
from daxlint.core.kbuild import parse_command_line, read_autoconf, read_version_header
from daxlint.errors import InputError
from daxlint.model import Severity
from daxlint.version import KernelVersion

CHECKFLAGS = "-D__linux__ -Dlinux -D__STDC__ -Dunix -D__unix__ -Wbitwise -Wno-return-void -Wno-unknown-attribute -D__x86_64__ --arch=x86 -mlittle-endian -m64".split()
GCC_FLAGS = (
    "-D__KERNEL__ -Wall -Wundef -Werror=strict-prototypes -fno-strict-aliasing -std=gnu11 -mno-sse -mcmodel=kernel "
    "-mindirect-branch=thunk-extern -mharden-sls=all -fno-delete-null-pointer-checks -O2 -Wframe-larger-than=2048 "
    "-fstack-protector-strong -pg -mrecord-mcount -mfentry -DCC_USING_FENTRY -Wvla -Wimplicit-fallthrough=5 -g"
).split()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def headers(tmp_path: Path, version=(6, 12, 117), config: str = "CONFIG_X86_64 1\nCONFIG_DEV_DAX_MODULE 1\n"):
    """A srctree (-common) and an objtree (-amd64) as Debian's headers
    packages lay them out: kconfig.h in the srctree, the generated files in
    the objtree."""
    src, obj = tmp_path / "linux-headers-common", tmp_path / "linux-headers-amd64"
    write(
        src / "include/linux/kconfig.h", "#ifndef __LINUX_KCONFIG_H\n#define __LINUX_KCONFIG_H\n#include <generated/autoconf.h>\n#endif\n"
    )
    write(src / "include/linux/compiler_types.h", "#ifndef __LINUX_COMPILER_TYPES_H\n#define __LINUX_COMPILER_TYPES_H\n#endif\n")
    write(src / "include/linux/compiler-version.h", "/* gcc 12 */\n")
    major, minor, sub = version
    code = (major << 16) + (minor << 8) + min(sub, 255)
    write(
        obj / "include/generated/uapi/linux/version.h",
        f"#define LINUX_VERSION_CODE {code}\n"
        "#define KERNEL_VERSION(a,b,c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))\n"
        f"#define LINUX_VERSION_MAJOR {major}\n#define LINUX_VERSION_PATCHLEVEL {minor}\n#define LINUX_VERSION_SUBLEVEL {sub}\n",
    )
    autoconf = "/*\n * Automatically generated file; DO NOT EDIT.\n */\n"
    autoconf += "".join(f"#define {line}\n" for line in config.splitlines() if line.strip())
    write(obj / "include/generated/autoconf.h", autoconf)
    return src, obj


def kbuild_argv(src: Path, moddir: Path, source: str, module_flags: list[str] = ()) -> list[str]:
    """$(CHECKFLAGS) $(c_flags) file.c, as Kbuild passes them for M= builds."""
    return [
        *CHECKFLAGS,
        f"-Wp,-MMD,{moddir}/.{Path(source).stem}.o.d",
        "-nostdinc",
        f"-I{src}/arch/x86/include",
        "-I./arch/x86/include/generated",
        f"-I{src}/include",
        "-I./include",
        f"-I{src}/include/uapi",
        "-I./include/generated/uapi",
        "-include",
        f"{src}/include/linux/compiler-version.h",
        "-include",
        f"{src}/include/linux/kconfig.h",
        "-include",
        f"{src}/include/linux/compiler_types.h",
        f"-fmacro-prefix-map={src}/=",
        *GCC_FLAGS,
        *module_flags,
        "-DMODULE",
        '-DKBUILD_BASENAME="daxmod"',
        '-DKBUILD_MODNAME="daxmod"',
        "-D__KBUILD_MODNAME=kmod_daxmod",
        source,
    ]


# -- the command line ----------------------------------------------------------------


def test_command_line_as_kbuild_passes_it(tmp_path):
    src, obj = headers(tmp_path)
    argv = kbuild_argv(src, tmp_path / "mod", str(tmp_path / "mod/daxmod.c"), ["-DHAVE_FOO=1", "-UHAVE_BAR", "-I", "compat"])
    cmd = parse_command_line(argv, str(obj))
    assert cmd.sources == [str(tmp_path / "mod/daxmod.c")]
    # relative -I resolved against the directory Kbuild runs the checker in
    assert cmd.include_dirs == [
        f"{src}/arch/x86/include",
        f"{obj}/arch/x86/include/generated",
        f"{src}/include",
        f"{obj}/include",
        f"{src}/include/uapi",
        f"{obj}/include/generated/uapi",
        f"{obj}/compat",
    ]
    assert cmd.forced_includes == [f"{src}/include/linux/{n}" for n in ("compiler-version.h", "kconfig.h", "compiler_types.h")]
    macros = dict(cmd.macros)
    assert macros["HAVE_FOO"] == MacroSpec("1")
    assert macros["HAVE_BAR"] == MacroSpec(None)
    assert macros["KBUILD_MODNAME"] == MacroSpec('"daxmod"')
    assert macros["__KBUILD_MODNAME"] == MacroSpec("kmod_daxmod")
    assert macros["__KERNEL__"] == macros["MODULE"] == MacroSpec("1")
    # gcc and sparse flags are no daxlint options (click would read -mharden-sls as -m -h ...)
    assert cmd.fail_on is None and not cmd.want_help and cmd.select == []


def test_command_line_order_and_daxlint_options():
    cmd = parse_command_line(
        ["-D", "A=1", "-UA", "-DA=2", "-DF(x)=x", "-Wsparse-error", "--select=DAX3", "--ignore", "DAX305", "x.c"],
        "/obj",
    )
    assert cmd.macros == [("A", MacroSpec("1")), ("A", MacroSpec(None)), ("A", MacroSpec("2")), ("F", MacroSpec(""))]
    assert cmd.fail_on is Severity.WARNING
    assert cmd.select == ["DAX3"] and cmd.ignore == ["DAX305"]
    assert cmd.sources == ["x.c"]
    assert parse_command_line(["-Wsparse-error", "-Wno-sparse-error", "x.c"], "/").fail_on is None
    assert parse_command_line(["--fail-on", "error", "x.c"], "/").fail_on is Severity.ERROR
    # the value of -o/-MF is not the file to check
    assert parse_command_line(["-MF", "dep.d", "-o", "x.o", "x.c"], "/").sources == ["x.c"]


@pytest.mark.parametrize(
    "argv,message", [(["-D"], "-D needs a value"), (["-D1X", "x.c"], "not a macro name"), (["--fail-on=fatal", "x.c"], "unknown severity")]
)
def test_command_line_errors(argv, message):
    with pytest.raises((InputError, ValueError), match=message):
        parse_command_line(argv, "/")


def test_version_header_forms():
    fields = b"#define LINUX_VERSION_CODE 396405\n#define LINUX_VERSION_MAJOR 6\n#define LINUX_VERSION_PATCHLEVEL 12\n#define LINUX_VERSION_SUBLEVEL 117\n"
    assert read_version_header(fields) == (KernelVersion(6, 12), 117)
    # 4.9.337 before LINUX_VERSION_MAJOR existed: the code's sublevel saturates
    assert read_version_header(b"#define LINUX_VERSION_CODE 264703\n#define KERNEL_VERSION(a,b,c) (((a) << 16) + ((b) << 8) + (c))\n") == (
        KernelVersion(4, 9),
        255,
    )
    assert read_version_header(b"/* empty */\n") is None


def test_autoconf_symbols():
    data = b'#define CONFIG_X86_64 1\n#define CONFIG_DEV_DAX_MODULE 1\n#define CONFIG_NR_CPUS 8192\n#define CONFIG_BUILD_SALT "6.1.0-56-amd64"\n'
    assert read_autoconf(data) == {
        "CONFIG_X86_64": MacroSpec("1"),
        "CONFIG_DEV_DAX_MODULE": MacroSpec("1"),
        "CONFIG_NR_CPUS": MacroSpec("8192"),
        "CONFIG_BUILD_SALT": MacroSpec('"6.1.0-56-amd64"'),
    }


# -- the command, end to end -------------------------------------------------------------

MODULE_C = """\
#include <linux/mm.h>
#include <linux/version.h>

static int daxmod_mmap(struct file *file, struct vm_area_struct *vma)
{
#ifdef CONFIG_X86_64
	*(vm_flags_t *)&vma->vm_flags |= VM_IO; /* 7: on */
#endif
#ifdef CONFIG_S390
	*(vm_flags_t *)&vma->vm_flags |= VM_IO; /* 10: off */
#endif
#if IS_ENABLED(CONFIG_DEV_DAX)
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTEXPAND; /* 13: =m counts */
#endif
#if IS_BUILTIN(CONFIG_DEV_DAX)
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTEXPAND; /* 16: not built in */
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 100)
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTCOPY; /* 19: 6.12.117 */
#endif
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 50)
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTCOPY; /* 22: not 6.12.117 */
#endif
#if HAVE_FOO && !defined(HAVE_BAR)
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTDUMP; /* 25: -DHAVE_FOO=1 -UHAVE_BAR */
#endif
#ifdef CONFTEST_HAVE_WRAPPERS
	*(vm_flags_t *)&vma->vm_flags |= VM_DONTDUMP; /* 28: from the -include'd conftest.h */
#endif
	return 0;
}

static const struct file_operations daxmod_fops = {
	.mmap = daxmod_mmap,
};
"""


def module(tmp_path: Path, code: str = MODULE_C) -> tuple[Path, Path, Path, list[str]]:
    src, obj = headers(tmp_path)
    moddir = tmp_path / "mod"
    c = write(moddir / "daxmod.c", code)
    write(moddir / "conftest.h", "#define CONFTEST_HAVE_WRAPPERS 1\n")
    flags = ["-DHAVE_FOO=1", "-DHAVE_BAR", "-UHAVE_BAR", "-include", f"{moddir}/conftest.h"]
    return src, obj, c, kbuild_argv(src, moddir, str(c), flags)


def lines_of(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln]


def test_findings_follow_the_build(tmp_path):
    _src, obj, c, argv = module(tmp_path)
    rc, out, err = run_daxlint("kbuild", *argv, cwd=obj)
    assert rc == 0 and out == "", err
    found = [ln.split(" [")[0] + " " + ln.split("] ")[0].split("[")[1] for ln in lines_of(err)]
    assert found == [f"{c}:{n}:2: warning: DAX301" for n in (7, 13, 19, 25, 28)], err
    assert "use vm_flags_set(vma, VM_IO)" in lines_of(err)[0]


def test_sparse_error_makes_findings_errors(tmp_path):
    _src, obj, c, argv = module(tmp_path)
    for opt in ("-Wsparse-error", "--werror"):
        rc, _out, err = run_daxlint("kbuild", opt, *argv, cwd=obj)
        assert rc == 1
        assert lines_of(err)[0].startswith(f"{c}:7:2: error: [DAX301] ")
    # CF= puts options among CHECKFLAGS; the last word wins, as with sparse
    rc, _out, err = run_daxlint("kbuild", "-Wsparse-error", *argv[:3], "-Wno-sparse-error", *argv[3:], cwd=obj)
    assert rc == 0 and f"{c}:7:2: warning: [DAX301]" in err
    rc, _out, err = run_daxlint("kbuild", "--select", "DAX1", "--werror", *argv, cwd=obj)
    assert rc == 0 and err == ""


def test_info_findings_are_notes(tmp_path):
    code = MODULE_C.replace("\treturn 0;\n", "\treturn 0; /* daxlint: ignore[DAX101] */\n")
    _src, obj, c, argv = module(tmp_path, code)
    rc, _out, err = run_daxlint("kbuild", "-Wsparse-error", *argv, cwd=obj)
    assert rc == 1
    assert f"{c}:30:12: note: [DAX001] " in err


def test_result_cache_follows_the_configuration(tmp_path):
    _src, obj, c, argv = module(tmp_path)
    first = run_daxlint("kbuild", *argv, cwd=obj)
    again = run_daxlint("kbuild", *argv, cwd=obj)
    assert first == again
    cache = Path(__import__("os").environ["XDG_CACHE_HOME"]) / "daxlint" / "results-v3.sqlite"
    assert cache.is_file()
    # the same file in a build with CONFIG_S390: not the cached answer
    autoconf = obj / "include/generated/autoconf.h"
    autoconf.write_text(autoconf.read_text() + "#define CONFIG_S390 1\n")
    _rc, _out, err = run_daxlint("kbuild", *argv, cwd=obj)
    assert f"{c}:10:2: warning: [DAX301]" in err
    # and with another version
    version_h = obj / "include/generated/uapi/linux/version.h"
    version_h.write_text(version_h.read_text().replace("SUBLEVEL 117", "SUBLEVEL 20").replace("396405", "396308"))
    _rc, _out, err = run_daxlint("kbuild", *argv, cwd=obj)
    assert f"{c}:22:2: warning: [DAX301]" in err and f"{c}:19:2:" not in err


def test_without_generated_headers(tmp_path):
    _src, obj, c, argv = module(tmp_path)
    (obj / "include/generated/uapi/linux/version.h").unlink()
    (obj / "include/generated/autoconf.h").unlink()
    # Kbuild exports the version to the checker
    rc, _out, err = run_daxlint("kbuild", *argv, cwd=obj, env={"VERSION": "6", "PATCHLEVEL": "12", "SUBLEVEL": "117"})
    assert rc == 0
    assert "daxlint: note: no generated linux/version.h on the include path; the version is Kbuild's VERSION/PATCHLEVEL/SUBLEVEL" in err
    assert "daxlint: note: no generated autoconf.h on the include path: CONFIG_ options are unknown" in err
    # unknown configuration: both CONFIG_ branches stay in
    assert f"{c}:7:2: warning: [DAX301]" in err and f"{c}:10:2: warning: [DAX301]" in err


def test_a_kernel_tree_build_reads_the_tree(tmp_path):
    """make C=1 in a kernel tree: the file comes relative to the tree top,
    where Kbuild runs, and rules read its directory's Kconfig."""
    tree = tmp_path / "linux"
    write(tree / "Makefile", "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n")
    write(tree / "include/linux/kconfig.h", "#include <generated/autoconf.h>\n")
    write(tree / "include/generated/autoconf.h", "#define CONFIG_X86_64 1\n")
    write(
        tree / "include/generated/uapi/linux/version.h",
        "#define LINUX_VERSION_CODE 396405\n#define LINUX_VERSION_MAJOR 6\n#define LINUX_VERSION_PATCHLEVEL 12\n#define LINUX_VERSION_SUBLEVEL 117\n",
    )
    fixtures = Path(__file__).parent / "fixtures/rules/DAX102"
    for d in ("no_select", "with_select"):
        for f in (fixtures / d).iterdir():
            write(tree / "drivers" / d / f.name, f.read_text())
    argv = ["-nostdinc", "-I./include", "-I./include/generated/uapi", "-include", "./include/linux/kconfig.h", "-D__KERNEL__", "-O2"]
    rc, _out, err = run_daxlint("kbuild", *argv, "drivers/no_select/toy_xipblk.c", cwd=tree)
    assert rc == 0
    assert lines_of(err) and all(ln.startswith("drivers/no_select/toy_xipblk.c:") and "[DAX102]" in ln for ln in lines_of(err)), err
    rc, _out, err = run_daxlint("kbuild", *argv, "drivers/with_select/toy_segblk.c", cwd=tree)
    # its Kconfig selects FS_DAX_LIMITED: no DAX102, and DAX101's info says why
    assert rc == 0 and "[DAX102]" not in err
    assert "drivers/with_select/toy_segblk.c:9:9: note: [DAX101] " in err and "(TOY_SEGBLK selects FS_DAX_LIMITED)" in err


@pytest.mark.parametrize(
    "argv,message",
    [
        ((), "no C file given"),
        (("-O2", "missing.c"), "missing.c: no such file"),
        (("-D",), "-D needs a value"),
        (("--fail-on", "fatal", "x.c"), "unknown severity"),
    ],
)
def test_usage_errors(tmp_path, argv, message):
    rc, out, err = run_daxlint("kbuild", *argv, cwd=tmp_path)
    assert rc == 2 and out == ""
    assert len(lines_of(err)) == 1 and message in err and "Traceback" not in err


def test_help():
    rc, out, _err = run_daxlint("kbuild", "--help")
    assert rc == 0 and 'make C=1 CHECK="daxlint kbuild"' in out and "-Wsparse-error" in out
    rc, out, _err = run_daxlint("--help")
    assert rc == 0 and "kbuild" in out
