"""The analyses behind the DAX3xx rules, one question at a time: what type an
expression has, which role a function plays, which lock it holds, how a
write depends on the DAX mode, and which wrapper call replaces it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_daxlint
from daxlint.analysis.callgraph import FAULT, IOCTL, MMAP, POST_MMAP, READ_LOCKED, VMA_OPEN, classify_member
from daxlint.analysis.locate import function_definitions, identifier_hits
from daxlint.analysis.preproc import first_branch_only
from daxlint.analysis.vmflags import VmFlagsModel, wrapper_fix
from daxlint.core.catalog import catalog_for
from daxlint.core.source import SourceFile
from daxlint.version import KernelVersion


def model(code: str, version: str = "6.12") -> VmFlagsModel:
    return VmFlagsModel(SourceFile("t.c", code.encode()), catalog_for(KernelVersion.parse(version)))


def write_at(m: VmFlagsModel, line: int):
    found = [w for w in m.writes if w.node.start_point[0] + 1 == line]
    assert found, f"no vm_flags write found on line {line}: {[w.node.start_point[0] + 1 for w in m.writes]}"
    return found[0]


# -- the text helpers ----------------------------------------------------------


def test_identifier_hits_are_whole_words_and_ordered():
    data = b"vm_flags __vm_flags my_vm_flags vm_flags_set vm_flags"
    assert [p for _, p in identifier_hits(data, {b"vm_flags", b"__vm_flags"})] == [0, 9, 45]
    many = {f"name{i}".encode() for i in range(40)} | {b"vm_flags"}
    assert [p for _, p in identifier_hits(data, many)] == [0, 45]


def test_first_branch_only_keeps_offsets_and_drops_else_branches():
    src = b"int f(void)\n{\n\tif (a\n#ifdef X\n\t    && b\n#endif\n\t    )\n\t\tc = 1;\n#if Y\n\td = 1;\n#elif Z\n\td = 2;\n#else\n\td = 3;\n#endif\n}\n"
    out = first_branch_only(src)
    assert len(out) == len(src) and out.count(b"\n") == src.count(b"\n")
    assert b"&& b" in out and b"d = 1;" in out
    assert b"d = 2;" not in out and b"d = 3;" not in out and b"#" not in out


def test_function_definitions_found_under_preprocessor_groups():
    sf = SourceFile(
        "t.c",
        b"#ifdef CONFIG_X\nstatic int a(void) { return 0; }\n#else\nstatic int b(void) { return 1; }\n#endif\nint c(void) { return 2; }\n",
    )
    names = [fn.child_by_field_name("declarator").child_by_field_name("declarator").text for fn in function_definitions(sf.root)]
    assert names == [b"a", b"b", b"c"]


# -- types ---------------------------------------------------------------------


TYPES = """\
typedef struct vm_area_struct myvma_t;
struct holder { struct vm_area_struct *vma; unsigned long vm_flags; };
static struct vm_area_struct *pick(struct mm_struct *mm);

static void f(struct vm_area_struct *vma, struct vm_region *regions, struct holder *h, void *p, myvma_t *t)
{
	{
		struct vm_region *vma = regions;
		vma->vm_flags = 0;
	}
	vma->vm_flags = 0;
	h->vma->vm_flags = 0;
	h->vm_flags = 0;
	pick(h->mm)->vm_flags = 0;
	container_of(p, struct vm_area_struct, vm_rb)->vm_flags = 0;
	t->vm_flags = 0;
	undeclared->vm_flags = 0;
}
"""


@pytest.mark.parametrize(
    "line, struct",
    [
        (9, "vm_region"),
        (11, "vm_area_struct"),
        (12, "vm_area_struct"),
        (13, "holder"),
        (14, "vm_area_struct"),
        (15, "vm_area_struct"),
        (16, "vm_area_struct"),
        (17, None),
    ],
)
def test_resolver_types_the_written_object(line, struct):
    m = model(TYPES)
    lhs = [n for n in _assignments(m) if n.start_point[0] + 1 == line][0].child_by_field_name("left")
    assert m.resolver.struct_of(lhs.child_by_field_name("argument")) == struct


def _assignments(m):
    from daxlint.core.syntax import walk

    return list(walk(m.root, {"assignment_expression"}))


def test_only_vma_writes_are_collected():
    m = model(TYPES)
    assert sorted(w.node.start_point[0] + 1 for w in m.writes) == [11, 12, 14, 15, 16]


# -- call graph, roles and locks -------------------------------------------------


GRAPH = """\
static void helper(struct vm_area_struct *vma) { vma->vm_flags |= VM_IO; }
static void locked_helper(struct vm_area_struct *vma) { mmap_assert_write_locked(vma->vm_mm); vma->vm_flags |= VM_IO; }
static int drv_mmap(struct file *f, struct vm_area_struct *vma) { helper(vma); return 0; }
static vm_fault_t drv_fault(struct vm_fault *vmf) { helper(vmf->vma); locked_helper(vmf->vma); return 0; }
static void drv_open(struct vm_area_struct *vma) { }
static long drv_ioctl(struct file *f, unsigned int c, unsigned long a)
{
	struct mm_struct *mm = current->mm;
	helper(find_vma(mm, a));
	mmap_write_lock(mm);
	helper(find_vma(mm, a));
	mmap_write_unlock(mm);
	return 0;
}
static int scan(struct mm_struct *mm) { mmap_read_lock(mm); helper(find_vma(mm, 0)); mmap_read_unlock(mm); return 0; }
static const struct vm_operations_struct drv_vm_ops = { .fault = drv_fault, .open = drv_open };
static const struct file_operations drv_fops = { .mmap = drv_mmap, .unlocked_ioctl = drv_ioctl, .post_mmap = drv_mmap };
"""


def test_registrations_get_roles_from_struct_and_member():
    m = model(GRAPH)
    roles = {(r.function, r.struct, r.member, r.role) for r in m.graph.registrations}
    assert ("drv_fault", "vm_operations_struct", "fault", FAULT) in roles
    assert ("drv_open", "vm_operations_struct", "open", VMA_OPEN) in roles
    assert ("drv_mmap", "file_operations", "mmap", MMAP) in roles
    assert ("drv_ioctl", "file_operations", "unlocked_ioctl", IOCTL) in roles
    assert ("drv_mmap", "file_operations", "post_mmap", POST_MMAP) in roles


@pytest.mark.parametrize(
    "struct, member, role",
    [
        ("fb_ops", "fb_mmap", MMAP),
        ("proc_ops", "proc_mmap", MMAP),
        ("proc_ops", "proc_ioctl", IOCTL),
        ("drm_driver", "open", None),
        ("iommu_ops", "fault", None),
        (None, "fault", FAULT),
        (None, "access", None),
        ("file_operations", "get_unmapped_area", None),
    ],
)
def test_classify_member(struct, member, role):
    assert classify_member(struct, member) == role


def test_contexts_follow_calls_and_stop_at_the_write_lock():
    m = model(GRAPH)
    ctxs = {(c.role, c.entry) for c in m.graph.contexts_of("helper")}
    # from ->mmap, from the fault handler, from the ioctl before it locks,
    # and from scan() under the read lock
    assert ctxs == {(MMAP, "drv_mmap"), (FAULT, "drv_fault"), (IOCTL, "drv_ioctl"), (READ_LOCKED, "scan"), (POST_MMAP, "drv_mmap")}
    # an asserting function is never entered unlocked
    assert m.graph.contexts_of("locked_helper") == []
    helper_path = [c.path for c in m.graph.contexts_of("helper") if c.role == FAULT][0]
    assert helper_path == ("drv_fault", "helper")


def _state_at(m: VmFlagsModel, function: str, needle: str):
    fn = m.graph.definitions[function][0]
    pos = m.source.data.index(needle.encode(), fn.start_byte)
    return m.graph.locks(fn).at(pos)


def test_lock_state_follows_the_statements():
    m = model(GRAPH)
    assert not _state_at(m, "drv_ioctl", "helper(find_vma(mm, a));\n\tmmap_write_lock").write_held
    assert _state_at(m, "drv_ioctl", "helper(find_vma(mm, a));\n\tmmap_write_unlock").write_held
    scan = _state_at(m, "scan", "helper(find_vma(mm, 0))")
    assert scan.read_only and not scan.write_held


LOCKS = """static void drv_lock(struct mm_struct *mm) { mmap_write_lock(mm); }
static void drv_unlock(struct mm_struct *mm) { mmap_write_unlock(mm); }
static long f(struct mm_struct *mm, struct vm_area_struct *vma, int c)
{
	mmap_write_lock(mm);
	vma = find_vma(mm, 0);
	mmap_write_unlock(mm);
	vm_flags_set(vma, VM_IO); /* after */
	if (c) {
		mmap_write_lock(mm);
		vm_flags_set(vma, VM_IO); /* branch */
	}
	vm_flags_set(vma, VM_IO); /* joined */
	if (!mmap_write_trylock(mm))
		return -EAGAIN;
	vm_flags_set(vma, VM_IO); /* trylock */
	mmap_write_downgrade(mm);
	vm_flags_set(vma, VM_IO); /* downgraded */
	mmap_read_unlock(mm);
	drv_lock(mm);
	vm_flags_set(vma, VM_IO); /* wrapper */
	drv_unlock(mm);
	vm_flags_set(vma, VM_IO); /* wrapper dropped */
	if (mmap_write_lock_killable(mm))
		return -EINTR;
	vm_flags_set(vma, VM_IO); /* killable */
	goto out;
	mmap_write_unlock(mm);
out:
	vm_flags_set(vma, VM_IO); /* label */
	return 0;
}
static void g(struct mm_struct *mm, struct vm_area_struct *vma)
{
	{
		guard(mmap_write_lock)(mm);
		vm_flags_set(vma, VM_IO); /* guard */
	}
	vm_flags_set(vma, VM_IO); /* after guard */
}
"""


@pytest.mark.parametrize(
    "mark, write, read",
    [
        ("after", "free", "entry"),
        ("branch", "held", "entry"),
        ("joined", "maybe", "entry"),
        ("trylock", "held", "entry"),
        ("downgraded", "free", "held"),
        ("wrapper", "held", "free"),
        ("wrapper dropped", "free", "free"),
        ("killable", "held", "free"),
        ("label", "held", "free"),
        ("guard", "held", "entry"),
        ("after guard", "entry", "entry"),
    ],
)
def test_lock_state_through_branches_returns_and_wrappers(mark, write, read):
    m = model(LOCKS)
    function = "g" if "guard" in mark else "f"
    fn = m.graph.definitions[function][0]
    end = m.source.data.index(f"/* {mark} */".encode())
    start = m.source.data.rindex(b"vm_flags_set", fn.start_byte, end)
    state = m.graph.locks(fn).at(start)
    assert (state.write, state.read) == (write, read)
    assert m.graph.summary("drv_lock").write == "held" and m.graph.summary("drv_unlock").write == "free"


# -- DAX dependence ----------------------------------------------------------------


DAX = """\
static void f(struct vm_area_struct *vma, struct inode *inode, struct fsxattr *fa)
{
	bool dax = IS_DAX(inode);

	if (IS_DAX(inode))
		vma->vm_flags |= VM_HUGEPAGE;
	else
		vma->vm_flags |= VM_MIXEDMAP;
	if (!vma_is_dax(vma) && vma->vm_file)
		vma->vm_flags |= VM_MIXEDMAP;
	if (dax)
		vma->vm_flags |= VM_MIXEDMAP;
	vma->vm_flags |= (inode->i_flags & S_DAX) ? VM_MIXEDMAP : 0;
	if (vma->vm_file || IS_DAX(inode))
		vma->vm_flags |= VM_IO;
	vma->vm_flags |= VM_DONTDUMP;
	if (!(fa->fsx_xflags & FS_XFLAG_DAX))
		return;
	vma->vm_flags |= VM_HUGEPAGE;
}
"""


@pytest.mark.parametrize("line, polarity", [(6, 1), (8, -1), (10, -1), (12, 1), (13, 1), (15, 0), (16, None), (19, 1)])
def test_dax_dependence_and_its_direction(line, polarity):
    m = model(DAX, "6.1")
    dep = m.dax_dependence(write_at(m, line), "VM_MIXEDMAP")
    assert (dep.polarity if dep is not None else None) == polarity


# -- fixes ---------------------------------------------------------------------------


FIXES = """\
static void f(struct vm_area_struct *vma, struct mm_struct *mm)
{
	struct vm_area_struct pseudo;
	struct vm_area_struct *fresh = vm_area_alloc(mm);

	vma->vm_flags |= VM_IO | VM_DONTEXPAND;
	vma->vm_flags &= ~VM_MAYWRITE;
	vma->vm_flags &= VM_LOCKED_CLEAR_MASK;
	vma->vm_flags = (vma->vm_flags & ~VM_MIXEDMAP) | VM_PFNMAP;
	vma->vm_flags = vma->vm_flags | VM_SHARED;
	vma->vm_flags ^= VM_WRITE;
	vma->vm_flags = newflags;
	pseudo.vm_flags = VM_HUGETLB;
	fresh->vm_flags = VM_READ;
	WRITE_ONCE(vma->vm_flags, newflags);
}
"""


@pytest.mark.parametrize(
    "line, fix",
    [
        (6, "vm_flags_set(vma, VM_IO | VM_DONTEXPAND)"),
        (7, "vm_flags_clear(vma, VM_MAYWRITE)"),
        (8, "vm_flags_reset(vma, vma->vm_flags & VM_LOCKED_CLEAR_MASK)"),
        (9, "vm_flags_mod(vma, VM_PFNMAP, VM_MIXEDMAP)"),
        (10, "vm_flags_set(vma, VM_SHARED)"),
        (11, "vm_flags_reset(vma, vma->vm_flags ^ VM_WRITE)"),
        (12, "vm_flags_reset(vma, newflags)"),
        (13, "vm_flags_init(&pseudo, VM_HUGETLB)"),
        (14, "vm_flags_init(fresh, VM_READ)"),
        (15, "vm_flags_reset_once(vma, newflags)"),
    ],
)
def test_wrapper_fix(line, fix):
    m = model(FIXES)
    assert wrapper_fix(m, write_at(m, line)) == fix


# -- end to end ----------------------------------------------------------------------


def test_version_gate_and_fix_in_json(tmp_path):
    src = tmp_path / "drv.c"
    src.write_text("static int drv_mmap(struct file *f, struct vm_area_struct *vma)\n{\n\tvma->vm_flags |= VM_IO;\n\treturn 0;\n}\n")
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX301", "--kernel-version", "6.3", "--format", "json", str(src))
    assert code == 1, err
    (finding,) = json.loads(out)["findings"]
    assert (finding["rule_id"], finding["line"], finding["fix"]["text"]) == ("DAX301", 3, "vm_flags_set(vma, VM_IO)")
    # The fix is structured: what it does, whether it is safe, the edits.
    fix = finding["fix"]
    assert (fix["safety"], fix["description"]) == ("safe", "Replace the direct write with vm_flags_set(vma, VM_IO)")
    (edit,) = fix["edits"]
    data = src.read_bytes()
    assert edit["path"] == str(src)
    assert data[edit["start"] : edit["end"]] == b"vma->vm_flags |= VM_IO"
    assert edit["replacement"] == "vm_flags_set(vma, VM_IO)"
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX3", "--kernel-version", "6.2", "--format", "json", str(src))
    assert code == 0, (out, err)


@pytest.mark.parametrize("rule", ["DAX301", "DAX302", "DAX303", "DAX304", "DAX305"])
def test_explain(rule):
    code, out, err = run_daxlint("explain", rule)
    assert code == 0, err
    for heading in ("What it does", "Why is this bad", "Example", "Use instead", "References"):
        assert heading in out


def test_typedef_keeps_pointer_level_and_struct_objects_are_private():
    m = model(
        "typedef struct vm_area_struct vma_t;\n"
        "static struct vm_area_struct gate;\n"
        "static void f(vma_t *p, vma_t obj)\n{\n\tp->vm_flags = 0;\n\tobj.vm_flags = 0;\n\tgate.vm_flags = 0;\n}\n"
    )
    assert [m.is_private_vma(write_at(m, line)) for line in (5, 6, 7)] == [False, True, True]
    assert wrapper_fix(m, write_at(m, 7)) == "vm_flags_init(&gate, 0)"


@pytest.mark.parametrize(
    "code, writes",
    [
        (b"vma->vm_flags |= VM_IO;", True),
        (b"(vma->vm_flags)\n\t\t|= VM_IO;", True),
        (b"gate_vma.vm_flags = VM_READ;", True),
        (b"vma->__vm_flags &= ~VM_IO;", True),
        (b"++vma->vm_flags;", True),
        (b"WRITE_ONCE(vma->vm_flags, newflags);", True),
        (b"unsigned long *p = &vma->vm_flags;", True),
        (b"*(vm_flags_t *)&vma->vm_flags = flags;", True),
        (b"vm_flags_set(vma, VM_IO);", True),
        (b"__vm_flags_mod(vma, VM_IO, 0);", True),
        (b"#define SETIO(v) (v)->vm_flags \\\n\t|= VM_IO", True),
        (b"if (vma->vm_flags & VM_IO) return;", False),
        (b"if (x && vma->vm_flags & VM_WRITE) return;", False),
        (b"if (a == vma->vm_flags) return;", False),
        (b"unsigned long f = vma->vm_flags;", False),
        (b"vm_flags |= VM_IO; /* a local, not the field */", False),
        (b"vm_flags_t flags = 0;", False),
        (b"/* callers set vma->vm_flags before this */", False),
    ],
)
def test_byte_prefilter_sees_writes_not_reads(code, writes):
    from daxlint.analysis.vmflags import may_write_vm_flags

    assert may_write_vm_flags(code) is writes


def test_dax302_and_dax304_on_one_line_are_one_finding():
    """A DAX-dependent change in a post-mmap hook breaks both rules: with
    both running, DAX302 reports it once and names the DAX dependence;
    DAX304 alone still reports it."""
    from test_rule_fixtures import analyse_fixture

    from conftest import FIXTURES

    path = FIXTURES / "rules" / "DAX303" / "post_mmap_6_1.c"
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "vma->vm_flags &= ~VM_MIXEDMAP;" in t)
    both = [f for f in analyse_fixture(path, {"DAX302", "DAX304"}, {"kernel-version": "6.1"}).findings if f.line == line]
    assert [f.rule_id for f in both] == ["DAX302"]
    assert "post_mmap hook" in both[0].message and "It also depends on the DAX mode ('IS_DAX(file_inode(file))', DAX304)" in both[0].message
    assert both[0].fix == "decide the DAX-dependent flags once, in ->mmap()"
    alone = [f for f in analyse_fixture(path, {"DAX304"}, {"kernel-version": "6.1"}).findings if f.line == line]
    assert [f.rule_id for f in alone] == ["DAX304"]


_TOY_MAIN = """\
#include <linux/mm.h>
#include "toy.h"

static vm_fault_t toy_fault(struct vm_fault *vmf)
{
	toy_util_set(vmf->vma);
	toy_core_mark(vmf->vma);
	return VM_FAULT_NOPAGE;
}

static const struct vm_operations_struct toy_vm_ops = {
	.fault = toy_fault,
};
"""


def _toy_module(directory: Path) -> None:
    """A fault handler calling two functions of other files of its module
    that change the vma's flags: toy_util_set(), declared in the module's
    header, and toy_core_mark(), which no file of the module declares."""
    directory.mkdir(parents=True)
    (directory / "Makefile").write_text("obj-m := toy.o\ntoy-y := toy_main.o toy_util.o toy_core.o\n")
    (directory / "toy.h").write_text("void toy_util_set(struct vm_area_struct *vma);\n")
    (directory / "toy_main.c").write_text(_TOY_MAIN)
    for name in ("toy_util_set", "toy_core_mark"):
        stem = name.split("_")[1]
        (directory / f"toy_{stem}.c").write_text(f"void {name}(struct vm_area_struct *vma)\n{{\n\tvm_flags_set(vma, VM_IO);\n}}\n")


def _dax302_lines(path: Path) -> list[tuple[str, int, str]]:
    code, out, err = run_daxlint("check", "--no-cache", "--select", "DAX302", "--kernel-version", "6.12", "--format", "json", str(path))
    assert code in (0, 1), err
    return sorted((Path(f["path"]).name, f["line"], f["message"].split("(")[0]) for f in json.loads(out)["findings"])


def test_module_helpers_are_what_the_module_declares_in_a_kernel_tree(tmp_path):
    # In a kernel tree every function is declared before it is called: one
    # the module's file and headers do not declare is the kernel's (here
    # include/linux/mm.h), whose effect is the catalog's business - not
    # looked for in every other file of the directory.
    tree = tmp_path / "linux"
    (tree / "include" / "linux").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (tree / "include" / "linux" / "mm.h").write_text("void toy_core_mark(struct vm_area_struct *vma);\n")
    _toy_module(tree / "drivers" / "toy")
    assert _dax302_lines(tree / "drivers" / "toy" / "toy_main.c") == [("toy_main.c", 6, "toy_util_set")]
    # An out-of-tree module checked on its own may lean on declarations
    # daxlint cannot see: both calls are followed.
    _toy_module(tmp_path / "module")
    assert _dax302_lines(tmp_path / "module" / "toy_main.c") == [("toy_main.c", 6, "toy_util_set"), ("toy_main.c", 7, "toy_core_mark")]


def test_a_file_declares_a_helper_with_its_type_not_by_naming_it_at_file_scope(tmp_path):
    # The file's own prototype counts as the module's declaration, its type
    # on the line before as GNU and xfs style write it; a macro invoked at
    # file scope with the name (an export, an initcall) declares nothing.
    tree = tmp_path / "linux"
    (tree / "include" / "linux").mkdir(parents=True)
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n")
    (tree / "include" / "linux" / "mm.h").write_text("")
    toy = tree / "drivers" / "toy"
    _toy_module(toy)
    main = toy / "toy_main.c"
    main.write_text(_TOY_MAIN + "\nTOY_EXPORT(toy_core_mark);\n")
    assert _dax302_lines(main) == [("toy_main.c", 6, "toy_util_set")]
    main.write_text(_TOY_MAIN.replace('"toy.h"\n', '"toy.h"\n\nvoid\ntoy_core_mark(struct vm_area_struct *vma);\n'))
    assert _dax302_lines(main) == [("toy_main.c", 9, "toy_util_set"), ("toy_main.c", 10, "toy_core_mark")]


def test_a_member_called_with_a_vma_is_no_helper_of_the_module():
    # vma->vm_ops->open(vma) calls a function pointer: no file of the module
    # defines a function named open for it to look for.
    from daxlint.analysis.module import calls_module_helpers_after_mmap

    fault = b"static vm_fault_t toy_fault(struct vm_fault *vmf)\n{\n\t%s(vmf->vma);\n\treturn 0;\n}\n"
    assert calls_module_helpers_after_mmap(fault % b"toy_mark")
    assert not calls_module_helpers_after_mmap(fault % b"vmf->vma->vm_ops->open")
    assert not calls_module_helpers_after_mmap(fault % b"toy->ops . open")


def test_rwsem_calls_make_a_lock_helper_only_on_the_mmap_lock():
    # down_write() and friends take the mmap lock only on mm->mmap_lock
    # (mmap_sem before v5.8): a sibling whose function takes another rwsem
    # is no lock helper, and is never parsed to learn so.
    from daxlint.analysis.module import lock_helper_definitions

    data = (
        b"int toy_take(struct mm_struct *mm)\n{\n\tdown_write(&mm->mmap_lock);\n\treturn 0;\n}\n\n"
        b"int toy_old(struct mm_struct *mm)\n{\n\tup_read(&mm->mmap_sem);\n\treturn 0;\n}\n\n"
        b"int toy_other(struct toy_dev *t)\n{\n\tdown_write(&t->sem);\n\treturn 0;\n}\n\n"
        b"int toy_calls(struct mm_struct *mm)\n{\n\treturn toy_take(mm);\n}\n"
    )
    assert lock_helper_definitions(data) == {"toy_take", "toy_old", "toy_calls"}
