import re

from daxlint.analysis.fileindex import callee_name, contains, index_for, unwrap, value_parent
from daxlint.analysis.flow import BLOCKS, exiting_guards
from daxlint.analysis.pfn import FLAG_CONSTRUCTORS, PAGE_CONSTRUCTORS, pfn_analysis_of
from daxlint.core.rule import Rule
from daxlint.core.syntax import call_args, declarator_name, enclosing_function, function_name, parameters, parent_of, text, walk
from daxlint.model import Severity

GUARDS = ("pfn_t_has_page", "pfn_t_devmap")
# pfn_to_page(pfn_t_to_pfn(p)) is safe where the memmap covers the pfn.
BYPASS_GUARDS = (*GUARDS, "pfn_t_valid")
_BYPASS_BYTES = re.compile(rb"pfn_to_page\s*\(\s*pfn_t_to_pfn\b")
_MAX_DEPTH = 4
# Calls whose argument being NULL-tested counts as a check of it.
_CHECK_WRAPPERS = frozenset({"WARN_ON", "WARN_ON_ONCE", "BUG_ON", "unlikely", "likely", "IS_ERR_OR_NULL", "WARN", "WARN_ONCE"})
_CONDITION_HOLDERS = frozenset({"if_statement", "while_statement", "do_statement", "for_statement", "conditional_expression"})
# A DAX device's pfn: page-backed by policy (569d0365f571; the providers are
# DAX101/DAX2xx's business, and fs/dax.c compiles its page users out under
# FS_DAX_LIMITED).
_DAX_FILLERS = frozenset({"dax_direct_access", "direct_access", "dax_iomap_direct_access"})


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _guard_re(arg: str, negated: bool, guards=GUARDS) -> re.Pattern:
    call = r"(?:{})\(\(*{}\)*\)".format("|".join(guards), re.escape(arg))
    return re.compile(r"!\(*" + call if negated else r"(?<![!\w])\(*" + call)


def _bypassing_pfn_to_page(inner):
    """The pfn_to_page() call around ``pfn_t_to_pfn(p)`` (``+ i`` allowed)."""
    n = value_parent(inner)
    if n is not None and n.type == "binary_expression" and text(n.child_by_field_name("operator")) in ("+", "-"):
        n = value_parent(n)
    if n is not None and n.type == "argument_list" and n.parent is not None and callee_name(n.parent) == "pfn_to_page":
        return n.parent
    return None


def _condition(node):
    if node.type == "conditional_expression":
        return node.child_by_field_name("condition")
    return node.child_by_field_name("condition")


def _is_null_test_of(node, name: str) -> bool:
    """Whether ``node`` (an expression) tests ``name`` against NULL."""
    t = _norm(text(node))
    patterns = (f"!{name}", f"{name}==NULL", f"{name}!=NULL", f"NULL=={name}", f"NULL!={name}", f"IS_ERR_OR_NULL({name})")
    if any(p in t for p in patterns):
        return True
    return t.strip("()") == name


class UnguardedPfnTToPage(Rule):
    """
    ## What it does
    Finds `pfn_t_to_page()` whose result is used - dereferenced, passed on,
    stored - without a guard: neither a `pfn_t_has_page()` /
    `pfn_t_devmap()` test of the same pfn that dominates the call (an
    enclosing `if`, or an earlier `if (!pfn_t_has_page(pfn)) return/goto`),
    nor a NULL test of the result before its first use. Returning the
    result is not a finding (the caller gets a nullable pointer, like from
    `pfn_t_to_page()` itself). `pfn_to_page(pfn_t_to_pfn(pfn))` is the
    same hazard without even the NULL: it is reported unless a
    `pfn_t_has_page()`, `pfn_t_devmap()` or `pfn_t_valid()` test guards it.

    Where the pfn comes from decides the severity. It is followed through
    locals and, when the function is only called directly, through its
    callers' arguments in the file:
    - **error**: built without `PFN_MAP` (`phys_to_pfn_t(x, PFN_DEV)`);
    - no finding: built by `page_to_pfn_t()` / `pfn_to_pfn_t()` or with
      `PFN_MAP` (or no `PFN_DEV`), or handed out by a DAX device
      (`dax_direct_access()`, `->direct_access`): the policy requires DAX
      memory to have struct pages, and DAX101/DAX2xx police the providers;
    - **info**: an origin out of view (a parameter of an exported helper,
      a value from another file or outside a patch's hunks): the caller
      must pass a page-backed pfn.

    ## Why is this bad
    `pfn_t_to_page()` returns NULL for a page-less pfn (PFN_DEV without
    PFN_MAP): FS_DAX_LIMITED memory (s390 dcssblk), a pmem namespace
    without a memmap, device memory mapped with `devm_memremap()`. Code
    that assumes every DAX pfn has a page - the assumption 569d0365f571
    made true only for DAX devices with ZONE_DEVICE pages - crashes on
    exactly those devices. dm-writecache is the model: it refuses a
    device whose pfn fails `pfn_t_has_page()`.

    ## Example
    ```c
    pfn = phys_to_pfn_t(md->phys + PFN_PHYS(pgoff), PFN_DEV);
    get_page(pfn_t_to_page(pfn));
    ```

    ## Use instead
    ```c
    if (!pfn_t_has_page(pfn))
            return -EOPNOTSUPP;
    get_page(pfn_t_to_page(pfn));
    ```

    ## References
    - 34c0fd540e79 "mm, dax, pmem: introduce pfn_t" (v4.5, `pfn_t_to_page()`, `pfn_t_has_page()`)
    - 569d0365f571 "dax: require 'struct page' by default for filesystem dax" (v4.15)
    - 785a3fab4adb "mm, dax: introduce pfn_t_special()" (page-less FS_DAX_LIMITED pfns)
    - drivers/md/dm-writecache.c (persistent_memory_claim: the guard done right)
    """

    id = "DAX103"
    name = "unguarded-pfn-t-to-page"
    severity = Severity.ERROR
    summary = "pfn_t_to_page() result used without a NULL or pfn_t_has_page() guard"
    fix_note = "The guard (`pfn_t_has_page()` or a NULL check) and what the code does with a page-less pfn depend on the caller."
    tokens = (b"pfn_t_to_page", b"pfn_t_to_pfn")

    def could_match(self, data):
        return b"pfn_t_to_page" in data or _BYPASS_BYTES.search(data) is not None

    def check(self, ctx):
        index = index_for(ctx.source)
        for call in index.plain_calls_to("pfn_t_to_page"):
            self._check_call(ctx, call, call, bypass=False)
        if b"pfn_t_to_pfn" in ctx.source.data:
            for inner in index.plain_calls_to("pfn_t_to_pfn"):
                outer = _bypassing_pfn_to_page(inner)
                if outer is not None:
                    self._check_call(ctx, outer, inner, bypass=True)

    def _check_call(self, ctx, call, conversion, bypass: bool) -> None:
        """``call`` is what is reported (pfn_t_to_page(p), or pfn_to_page()
        around pfn_t_to_pfn(p)); ``conversion`` is the call taking the pfn_t."""
        args = call_args(conversion)
        fn = enclosing_function(call)
        if not args or fn is None:
            return
        arg = _norm(text(args[0]))
        origin, level = self._origin(ctx, args[0], fn, call, 0)
        if level is None:
            return  # has a page by construction, or by policy
        if self._guarded(call, arg, fn, bypass) or (not bypass and self._result_checked(call, fn)):
            return
        if level is Severity.INFO:
            origin += "; make sure every caller passes a pfn with a struct page"
        if bypass:
            message = (
                f"{text(call)} bypasses pfn_t_to_page()'s has-page check; {origin}: for a page-less pfn (PFN_DEV "
                "without PFN_MAP) pfn_to_page() computes a struct page that does not exist"
            )
            fix = f"check pfn_t_has_page({text(args[0])}) first, or use pfn_t_to_page() and test the result for NULL"
        else:
            message = (
                f"pfn_t_to_page({text(args[0])}) is used without a NULL or pfn_t_has_page() guard; {origin}: "
                "pfn_t_to_page() returns NULL for a page-less pfn (PFN_DEV without PFN_MAP, e.g. FS_DAX_LIMITED "
                "memory or a device mapped without ZONE_DEVICE pages)"
            )
            fix = f"check pfn_t_has_page({text(args[0])}) first, or test the returned page for NULL"
        ctx.report(call, message, severity=level, fix=fix)

    # -- where the pfn comes from -------------------------------------------------

    def _origin(self, ctx, arg, fn, call, depth: int) -> tuple[str, Severity | None]:
        """(description, severity) of the pfn's origin; severity None when it
        has a page (by construction, or because DAX hands it out: policy
        requires ->direct_access to return page-backed pfns, and DAX101/DAX2xx
        police the providers), INFO when the origin is out of view."""
        arg = unwrap(arg)
        analysis = pfn_analysis_of(ctx)
        if arg.type == "call_expression":
            return self._constructed(analysis, arg)
        if arg.type != "identifier":
            return "the pfn's origin is not visible here", Severity.INFO
        name = text(arg)
        verdicts = []
        index = index_for(ctx.source)
        for w in index.identifier_writes(name):
            if not (fn.start_byte <= w.node.start_byte < call.start_byte) or w.value is None:
                continue
            value = unwrap(w.value)
            if value.type == "call_expression":
                verdicts.append(self._constructed(analysis, value))
        for c in analysis.val_changes:
            if c.name == name and fn.start_byte <= c.call.start_byte < call.start_byte:
                if c.flags.always_pageless:
                    verdicts.append((f"'{' '.join(text(c.call).split())}' at line {c.line} makes it page-less", Severity.ERROR))
        for c in walk(fn, {"call_expression"}):
            if c.start_byte >= call.start_byte or callee_name(c) not in _DAX_FILLERS:
                continue
            if any(_norm(text(a)) == "&" + name for a in call_args(c)):
                verdicts.append(
                    (
                        f"'{name}' comes from {callee_name(c)}() at line {c.start_point[0] + 1}, a DAX device's pfn, "
                        "which must have a struct page",
                        None,
                    )
                )
        if not verdicts and depth < _MAX_DEPTH:
            verdicts = self._parameter_origins(ctx, fn, name, depth)
        if not verdicts:
            return f"the origin of '{name}' is not visible here", Severity.INFO
        if all(level is None for _, level in verdicts):
            return verdicts[0][0], None
        for level in (Severity.ERROR, Severity.WARNING, Severity.INFO):
            hit = next((v for v in verdicts if v[1] is level), None)
            if hit is not None:
                return hit
        return verdicts[0]

    def _parameter_origins(self, ctx, fn, name: str, depth: int) -> list[tuple[str, Severity | None]]:
        """A parameter: what the file's own callers pass (when the function is
        only called directly, never stored or exported)."""
        params = [n for n, _, _ in parameters(fn)]
        fname = function_name(fn)
        index = index_for(ctx.source)
        if name not in params or not fname or index.function_referenced_indirectly(fname):
            return []
        calls = index.plain_calls_to(fname)
        out = []
        for c in calls:
            caller = enclosing_function(c)
            arg = index.call_argument(c, params.index(name))
            if caller is None or arg is None or caller == fn:
                return []
            desc, level = self._origin(ctx, arg, caller, c, depth + 1)
            out.append((f"{desc} (passed by {function_name(caller)}() at line {c.start_point[0] + 1})", level))
        return out

    @staticmethod
    def _constructed(analysis, call) -> tuple[str, Severity | None]:
        name = callee_name(call)
        if name in PAGE_CONSTRUCTORS:
            return f"built by {name}()", None
        if name in FLAG_CONSTRUCTORS:
            construction = next((c for c in analysis.constructions if c.call == call), None)
            if construction is not None and construction.flags.always_has_page:
                return f"built with {construction.flags.spelled()}", None
            if construction is not None and construction.flags.known:
                return f"built by {name}() with {construction.flags.spelled()}", Severity.ERROR
            return f"built by {name}() with flags that cannot be evaluated here", Severity.INFO
        return f"returned by {name}()", Severity.INFO

    # -- guards -----------------------------------------------------------------------

    def _guarded(self, call, arg: str, fn, bypass: bool = False) -> bool:
        guards = BYPASS_GUARDS if bypass else GUARDS
        positive, negated = _guard_re(arg, False, guards), _guard_re(arg, True, guards)
        n = parent_of(call)
        while n is not None and n != fn:
            if n.type in ("if_statement", "conditional_expression"):
                cond = _condition(n)
                cond_text = _norm(text(cond)) if cond is not None else ""
                branch = n.child_by_field_name("consequence")
                if branch is not None and contains(branch, call) and positive.search(cond_text):
                    return True
                alt = n.child_by_field_name("alternative")
                if alt is not None and contains(alt, call) and negated.search(cond_text):
                    return True
            if n.type == "binary_expression" and text(n.child_by_field_name("operator")) == "&&":
                left = n.child_by_field_name("left")
                if left is not None and not contains(left, call) and positive.search(_norm(text(left))):
                    return True
            n = parent_of(n)
        # An earlier `if (!pfn_t_has_page(pfn)) return/goto ...;` or BUG_ON(!...)
        # in a block that also holds the call.
        child, n = call, parent_of(call)
        while n is not None and n != fn:
            if n.type in BLOCKS:
                for stmt in exiting_guards(n, child):
                    cond = _condition(stmt)
                    if cond is not None and negated.search(_norm(text(cond))):
                        return True
                for stmt in n.named_children:
                    if stmt.start_byte >= child.start_byte:
                        break
                    t = _norm(text(stmt))
                    if stmt.type == "expression_statement" and t.startswith("BUG_ON(") and negated.search(t):
                        return True
            child, n = n, parent_of(n)
        return False

    def _result_checked(self, call, fn) -> bool:
        parent = value_parent(call)
        if parent is None:
            return False
        if parent.type == "return_statement":
            return True
        if parent.type == "unary_expression" and text(parent).startswith("!"):
            return True
        if parent.type == "binary_expression" and text(parent.child_by_field_name("operator")) in ("==", "!="):
            return True
        if (
            parent.type in _CONDITION_HOLDERS
            or parent.type == "parenthesized_expression"
            and parent.parent is not None
            and parent.parent.type in _CONDITION_HOLDERS
        ):
            return True
        target = None
        if parent.type == "assignment_expression" and text(parent.child_by_field_name("operator")) == "=":
            left = unwrap(parent.child_by_field_name("left"))
            if left.type == "identifier":
                target = text(left)
        elif parent.type == "init_declarator":
            target = declarator_name(parent.child_by_field_name("declarator"))
        if target is None:
            return False
        # The first later mention of the variable must be a NULL test.
        for ident in walk(fn, {"identifier"}):
            if ident.start_byte <= parent.end_byte or text(ident) != target:
                continue
            holder = parent_of(ident)
            while holder is not None and holder != fn:
                if holder.type in _CONDITION_HOLDERS:
                    cond = _condition(holder)
                    if cond is not None and contains(cond, ident):
                        return _is_null_test_of(cond, target)
                    break
                if holder.type == "call_expression" and callee_name(holder) in _CHECK_WRAPPERS:
                    return _is_null_test_of(holder, target)
                if holder.type in ("expression_statement", "declaration", "return_statement"):
                    break
                holder = parent_of(holder)
            return False
        return True  # never used again
