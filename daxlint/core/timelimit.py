"""The per-file time limit.

Cooperative first. The analysis passes checkpoints often - the engine
before each view and each rule, the tree walkers of ``core/syntax.py`` and
``analysis/locate.py`` every few hundred nodes - and ``checkpoint()`` raises
``FileTimeout`` there once the file's deadline has passed. It is raised by
the analysis' own code, so it unwinds through the analysis like any other
exception, wherever the deadline passed.

Code that reaches no checkpoint (a rule's own loop) is interrupted as a
last resort, ``HARD_STOP_FACTOR`` times the limit after the start: by
SIGALRM in the main thread (the CLI, every worker of the fork pool), by an
asynchronous exception from a watchdog thread in any other (Dask workers run
tasks on a thread pool). Both land between two bytecodes of whatever the
thread runs at that moment, and that may be a callback Python runs in the
middle of the analysis - a weakref callback (dropping the last reference
to a ``threading.Thread`` runs ``WeakSet._remove`` of threading's
``_dangling``), a finaliser, a garbage-collector callback. Python prints an
exception raised there as "ignored", drops it, and the callback stops half
way. So the interruption is delivered only where the thread stands in the
analysis' own code: every frame from the innermost one up to the start of
the analysis is daxlint's, a rule's or a test's - none is the standard
library's or an installed package's, where Python's and the libraries'
callbacks live (daxlint and the rules define none: a test says so). Off
the main thread it is delivered only while the thread waits for the
interpreter lock at a loop's back edge or a function's entry, where it is
raised the moment the thread runs again. Anywhere else it waits and is
tried again ``RETRY`` seconds later.
"""

from __future__ import annotations

import ctypes
import dis
import os
import signal
import site
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from types import FrameType
from typing import Protocol

# Code that reaches no checkpoint is interrupted this many times the limit
# after the start: the checkpoints end a file within moments of its
# deadline, so this is only ever for code that has none.
HARD_STOP_FACTOR = 2.0
# How soon an interruption that found the thread somewhere it must not land
# is tried again.
RETRY = 0.01
# Checkpoints in loops look at the clock once per this many steps (a power
# of two less one, used as a mask): a clock read per tree node would cost a
# fifth of a walk.
CHECK_EVERY = 255


class FileTimeout(BaseException):
    """A file's analysis went past its time limit. A BaseException, like
    asyncio's CancelledError, so that a rule's ``except Exception`` does
    not swallow it."""


class Alarm(Protocol):
    """What interrupts an analysis that reaches no checkpoint."""

    def arm(self, limit: TimeLimit, after: float) -> None: ...

    def disarm(self, limit: TimeLimit) -> None: ...


_CURRENT: ContextVar[TimeLimit | None] = ContextVar("daxlint_time_limit", default=None)


def checkpoint() -> None:
    """Raise FileTimeout when the file being analysed in this thread is past
    its deadline."""
    limit = _CURRENT.get()
    if limit is not None and limit.clock() > limit.deadline:
        raise FileTimeout()


class TimeLimit:
    """The limit of one file's analysis: ``with TimeLimit(s) as limit:
    limit.run(analysis, ...)``. Checkpoints inside the block end the file
    after ``seconds`` by the clock; the alarm interrupts code inside
    ``run()`` that reaches none. A block inside another one's keeps the
    outer limit."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, alarm: Alarm | None = None):
        self.seconds = seconds
        self.clock = clock
        self.alarm = alarm
        self.deadline = float("inf")
        self.thread = threading.get_ident()
        self.deferred = 0  # interruptions put off because the thread stood where they must not land
        self._root: FrameType | None = None
        self._token = None

    def __enter__(self) -> TimeLimit:
        if not self.seconds or _CURRENT.get() is not None:
            return self
        self.deadline = self.clock() + self.seconds
        self._token = _CURRENT.set(self)
        if self.alarm is None:
            self.alarm = SIGNAL_ALARM if threading.current_thread() is threading.main_thread() else watchdog()
        self.alarm.arm(self, self.seconds * HARD_STOP_FACTOR)
        return self

    def __exit__(self, *_exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Disarm (again: an interruption that reached the thread just after
        its analysis ended may have cut the first one short)."""
        if self._token is not None:
            try:
                self.alarm.disarm(self)
            finally:
                _CURRENT.reset(self._token)
                self._token = None

    def run(self, fn: Callable, *args):
        """``fn(*args)``, which the alarm may interrupt."""
        self._root = sys._getframe()
        try:
            return fn(*args)
        finally:
            self._root = None

    def may_interrupt(self, frame: FrameType | None) -> bool:
        """Whether raising FileTimeout in ``frame``, the thread's innermost,
        unwinds the analysis: it and every caller up to ``run()`` are the
        analysis' own code (see the top of this module)."""
        root = self._root
        f = frame
        while f is not None and root is not None:
            if f is root:
                return True
            if _is_library(f.f_code.co_filename):
                break
            f = f.f_back
        return False

    def put_off(self) -> None:
        """An interruption that found the thread where it must not land
        waits for the next try."""
        self.deferred += 1


@cache
def _library_prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(daxlint's own directory, the standard library's and installed
    packages' directories), each as given and resolved."""

    def forms(d: str) -> set[str]:
        return {os.path.join(d, ""), os.path.join(os.path.realpath(d), "")}

    ours = forms(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = sysconfig.get_paths()
    library = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    library.update(site.getsitepackages())
    library.add(site.getusersitepackages())
    library.update(p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages"))
    library.add(os.path.dirname(threading.__file__))
    return tuple(sorted(ours)), tuple(sorted(f for d in library for f in forms(d)))


def _is_library(filename: str) -> bool:
    """Whether code from ``filename`` is the standard library's or an
    installed package's (daxlint is not, wherever it is installed)."""
    if filename.startswith("<frozen"):
        return True
    ours, library = _library_prefixes()
    return not filename.startswith(ours) and filename.startswith(library)


class _SignalAlarm:
    """SIGALRM, for the main thread: the handler runs in the analysing
    thread itself, between two bytecodes of the frame it is given, and
    raises only where ``may_interrupt()`` says; the timer repeats every
    RETRY seconds until the file is done."""

    def __init__(self):
        self.limit: TimeLimit | None = None
        self.previous = None

    def arm(self, limit: TimeLimit, after: float) -> None:
        self.limit = limit
        self.previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, after, RETRY)

    def disarm(self, limit: TimeLimit) -> None:
        if self.limit is limit:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # None: a handler set outside Python, which signal.signal() cannot put back.
            signal.signal(signal.SIGALRM, signal.SIG_DFL if self.previous is None else self.previous)
            self.limit = None

    def _on_alarm(self, _signum, frame) -> None:
        limit = self.limit
        if limit is None:
            return
        if limit.may_interrupt(frame):
            raise FileTimeout()
        limit.put_off()


SIGNAL_ALARM = _SignalAlarm()


def _waits_at_a_safe_point(frame: FrameType) -> bool:
    """Whether a thread whose innermost frame is ``frame`` stopped for the
    interpreter lock at a loop's back edge or a function's entry: then an
    asynchronous exception is raised right there when it runs again. After
    a call (a C function that let go of the lock) it could first run a
    callback, dropping the call's arguments."""
    op = dis.opname[frame.f_code.co_code[frame.f_lasti]]
    return op == "RESUME" or "JUMP_BACKWARD" in op


class _Watchdog:
    """One daemon thread per process that interrupts analyses in threads
    other than the main one, by an asynchronous exception."""

    def __init__(self):
        self.cond = threading.Condition()
        self.due: dict[TimeLimit, float] = {}  # armed limit -> when to try to interrupt it
        self.thread: threading.Thread | None = None

    def arm(self, limit: TimeLimit, after: float) -> None:
        with self.cond:
            self.due[limit] = time.monotonic() + after
            if self.thread is None:
                self.thread = threading.Thread(target=self._serve, name="daxlint-time-limit", daemon=True)
                self.thread.start()
            self.cond.notify()

    def disarm(self, limit: TimeLimit) -> None:
        with self.cond:
            self.due.pop(limit, None)
            # Delivered but not raised yet (the thread moved on before it ran): take it back.
            _async_raise(limit.thread, None)

    def _serve(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                for limit, when in list(self.due.items()):
                    if when <= now:
                        self.interrupt(limit)
                        self.due[limit] = now + RETRY
                self.cond.wait(min(self.due.values(), default=now + 3600) - now)

    def interrupt(self, limit: TimeLimit) -> None:
        """Raise FileTimeout in ``limit``'s thread if it stands where it may
        land (the caller holds ``cond``, so the limit is still armed)."""
        frame = sys._current_frames().get(limit.thread)
        if frame is None or not limit.may_interrupt(frame) or not _waits_at_a_safe_point(frame):
            limit.put_off()
            return
        _async_raise(limit.thread, FileTimeout)
        # The thread may have run between the look and the delivery: unless
        # it still stands where it was seen, take the exception back.
        now = sys._current_frames().get(limit.thread)
        if now is not frame or now.f_lasti != frame.f_lasti:
            _async_raise(limit.thread, None)
            limit.put_off()


_WATCHDOG: list[_Watchdog] = []


def watchdog() -> _Watchdog:
    """The process's watchdog (a forked child starts its own)."""
    if not _WATCHDOG:
        _WATCHDOG.append(_Watchdog())
    return _WATCHDOG[0]


os.register_at_fork(after_in_child=_WATCHDOG.clear)


def _async_raise(thread: int, exc) -> None:
    """Raise ``exc`` in the thread ``thread`` at its next bytecode (None
    cancels a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc is not None else None)
