"""The judge: runs a notebook's test cells in the grader's process, against the student's kernel.

A :class:`Judge` serves one notebook. It listens on a Unix socket in a folder the
sandboxed kernel can reach; for each test cell the kernel connects (see :mod:`.kernel`)
and the judge executes the cell's source in its own namespace. Names the course imports
are the judge's own modules; every other name the test uses is looked up in the kernel
and arrives as a plain value (numbers, strings, containers, arrays, tensors) or as a
:class:`Handle`, whose calls, attributes and operators are requests to the kernel.
Arguments go to the kernel by value, except the test's own code: a function or class the test
defines (or imports from the grading package) stays here, and the kernel gets a stand-in that
calls back (:meth:`Judge.callback`, the judge's only service), its arguments coming back the
untrusted way, through :func:`.wire.decode`. The one exception is a reference piece a test lends
with :func:`course_utils.checks.stand_in`: that must run in the kernel, so it crosses as code.
The judge's own work on a test cell is bounded: what the kernel sends it in one cell
(:data:`MAX_BYTES`), and its time (the cell's limit, see :mod:`.cell`).
"""

from __future__ import annotations

import ast
import contextlib
import io
import operator
import os
import pickle
import re
import shutil
import socket
import sys
import tempfile
import threading
import types
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import rpyc
from rpyc.core.channel import Channel
from rpyc.core.stream import SocketStream

from ... import nbtools
from .. import references
from . import wire

# The reference pieces a test lends (checks.stand_in) travel as code: the sandbox does not show
# the grader's package, and the kernel takes them back when the test ends (kernel.take_back).
cloudpickle.register_pickle_by_value(references)

CONFIG = {"allow_pickle": False, "allow_all_attrs": False, "allow_public_attrs": False,
          "allow_safe_attrs": False, "allow_exposed_attrs": True, "allow_getattr": True,
          "allow_setattr": False, "allow_delattr": False, "include_local_traceback": False,
          "include_local_version": False, "import_custom_exceptions": False,
          "instantiate_custom_exceptions": False, "propagate_SystemExit_locally": True}
SOCKET_NAME = "judge.sock"
MAX_BYTES = 256 * 2**20
"""What the kernel may send the judge in one test cell, decompressed (its largest honest answers,
the names data and 06's tensors, are a few MiB)."""
NAMESPACE = "__judge__"
OWN_MODULES = (NAMESPACE, "course_utils.grading")
"""Where the tests' own code lives: the test cell itself, and the grading package it imports."""
CELL_FILE = "<test cell>"
KNOWN_ERRORS = {e.__name__: e for e in (
    AssertionError, AttributeError, IndexError, KeyError, LookupError, NameError, NotImplementedError,
    OverflowError, RecursionError, RuntimeError, StopIteration, TypeError, ValueError, ZeroDivisionError,
    FloatingPointError, ArithmeticError, MemoryError)}


LINK_LOST = ("the notebook's code did not answer the tests in time "
             "(an endless loop, a crash, or code that broke the grader's link)")
STUCK = ("not graded: an earlier test could not put the notebook's own functions back in place of "
         "the reference ones it lent them (the kernel stopped answering)")
HELPER_RAISED = re.compile(r"raised by a function of the tests \(\w+ #(\d+)\)$")
OVER_TIME = ("not graded: the tests of an earlier cell were still running when its time limit ran out "
             "(the notebook's code kept them busy)")
OVER_LIMIT = ("the tests of this cell ran out of the cell's time limit in the grader: the notebook's "
              "code kept them busy (a result too large or too slow to check)")
TOO_MUCH = ("the notebook's code sent the tests more than {mib:g} MiB in this test cell "
            "(the grader's limit; return smaller results)")


class KernelUnavailable(RuntimeError):
    """The kernel stopped answering the judge (time limit, crash, or the notebook broke the link)."""

    ename = "TimeoutError"


class JudgeLimit(KernelUnavailable):
    """The kernel sent the judge more than it accepts in one test cell."""

    ename = "MemoryError"


class JudgeStopped(BaseException):
    """Raised in the judge's thread when its own work on a cell has used up the cell's time limit
    (not an Exception: no test's ``except`` catches it)."""


class _Overflow(EOFError):
    """Raised inside RPyC's receiving loop: the link is dropped at once, nothing more is read."""


@dataclass
class Outcome:
    """How one test cell went: passed, or the error to show in its place."""

    passed: bool
    ename: str = ""
    evalue: str = ""
    detail: list[str] = field(default_factory=list)
    stdout: str = ""
    line: int | None = None
    """The test cell's top-level line that failed (feedback tells visible from hidden by it)."""


class Handle:
    """An object that stays in the student's kernel; everything done to it is a request there."""

    __slots__ = ("_judge", "_ref", "_type", "__weakref__")

    def __init__(self, judge: Judge, ref: Any, type_name: str):
        object.__setattr__(self, "_judge", judge)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type", type_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # NumPy and Python probe protocols this way
        return self._judge.apply(self, "getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._judge.apply(self, "setattr", name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._judge.apply(self, "call", "", (args, kwargs))

    def __getitem__(self, key: Any) -> Any:
        return self._judge.apply(self, "getitem", "", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._judge.apply(self, "setitem", "", (key, value))

    def __delitem__(self, key: Any) -> None:
        self._judge.apply(self, "delitem", "", key)

    def __len__(self) -> int:
        return int(self._judge.apply(self, "len"))

    def __iter__(self):
        return iter(self._judge.apply(self, "iter"))

    def __contains__(self, item: Any) -> bool:
        return bool(self._judge.apply(self, "contains", "", item) is True)

    def __bool__(self) -> bool:
        return self._judge.apply(self, "bool") is True

    def __str__(self) -> str:
        text = self._judge.apply(self, "str")
        return text if type(text) is str else f"<{self._type}>"

    def __repr__(self) -> str:
        text = self._judge.apply(self, "repr")
        return text if type(text) is str else f"<{self._type}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __float__(self) -> float:
        return float(self._judge.apply(self, "float"))

    def __int__(self) -> int:
        return int(self._judge.apply(self, "int"))

    def __index__(self) -> int:
        return operator.index(self._judge.apply(self, "index"))

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        value = np.asarray(self._judge.apply(self, "array"))
        return value if dtype is None else value.astype(dtype)

    def __hash__(self) -> int:
        return id(self)

    def __instancecheck__(self, obj: Any) -> bool:
        return self._judge.apply(self, "isinstance", "", obj) is True

    def __subclasscheck__(self, cls: Any) -> bool:
        return self._judge.apply(self, "issubclass", "", cls) is True


def _operator(name: str, reflected: bool = False):
    op = "rbinop" if reflected else "binop"
    return lambda self, other: self._judge.apply(self, op, name, other)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    _py = _name + "_" if _name in ("and", "or") else _name
    setattr(Handle, f"__{_name}__", _operator(_py))
    setattr(Handle, f"__r{_name}__", _operator(_py, reflected=True))
for _name in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(Handle, f"__{_name}__", _operator(_name))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Handle, f"__{_name}__", lambda self, _n=_name: self._judge.apply(self, "unary", _n))


_UNDEFINED = object()


class _Namespace(dict):
    """The test cell's globals: the course's imports are the judge's own; other names come from the kernel."""

    def __init__(self, judge: Judge, imports: dict[str, str]):
        super().__init__(__name__=NAMESPACE, __builtins__=__builtins__)
        self._judge, self._imports = judge, imports
        self.from_kernel: set[str] = set()
        self.rebound: dict[str, Any] = {}

    def __missing__(self, name: str) -> Any:
        builtins = self["__builtins__"]
        if name in (builtins if isinstance(builtins, dict) else vars(builtins)):
            raise KeyError(name)  # Python then looks in builtins itself
        if name in self._imports:
            value = self[name] = wire.resolve(self._imports[name])
            for key, path in self._imports.items():
                if key.startswith(name + "."):  # ``import scipy.stats`` binds scipy *and* loads scipy.stats
                    wire.resolve(path)
            return value
        value = self._judge.lookup(name)
        self[name] = value
        self.from_kernel.add(name)
        return value

    def rebind(self, name: str, value: Any) -> None:
        """Point a name of the notebook at a copy of ``value`` in the kernel until the test cell ends
        (:func:`course_utils.checks.stand_in`); the test then reaches that copy as it reaches the
        student's objects, so what it builds with it lives in the kernel too."""
        if name not in self.rebound:
            try:
                self.rebound[name] = self[name]
            except KeyError:
                self.rebound[name] = _UNDEFINED
        self._judge.lent = True
        self._judge.assign(name, value)
        self.pop(name, None)

    def in_kernel(self, function: Any, args: tuple, kwargs: dict) -> Any:
        """``function(*args, **kwargs)`` run in the kernel (:func:`course_utils.checks.in_kernel`)."""
        return self._judge.run_in_kernel(function, args, kwargs)

    def restore(self) -> None:
        """The kernel's own objects back under the names :meth:`rebind` changed."""
        rebound, self.rebound = self.rebound, {}
        for name, value in rebound.items():
            self.pop(name, None)
            self._judge.assign(name, value, undefined=value is _UNDEFINED)


def _own(module: Any) -> bool:
    # The judge's own package is excluded: its kernel side is what the stand-ins are made of.
    return (isinstance(module, str) and any(module == m or module.startswith(m + ".") for m in OWN_MODULES)
            and not module.startswith(__package__))


def hidden_lines(source: str) -> frozenset[int]:
    """The 1-based line numbers of a test cell's hidden blocks, their marker lines included."""
    hidden, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        if inside:
            hidden.add(number)
        if "END HIDDEN TESTS" in line:
            inside = False
    return frozenset(hidden)


def _code_lines(code: types.CodeType) -> set[int]:
    lines = {line for _, _, line in code.co_lines() if line is not None} | {code.co_firstlineno}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            lines |= _code_lines(const)
    return lines


def written_in_view(obj: Any, hidden: frozenset[int]) -> bool:
    """A plain function the test cell defines in its visible part: the student sees its code anyway,
    so it may run in the kernel (a gradient called a thousand times by an optimiser costs a thousand
    round trips as a call-back). Whatever it reads from the test's namespace travels with it as data."""
    code = getattr(obj, "__code__", None)
    return (type(obj) is types.FunctionType and getattr(obj, "__module__", None) == NAMESPACE
            and isinstance(code, types.CodeType) and code.co_filename == CELL_FILE
            and not (_code_lines(code) & hidden))


def _own_code(obj: Any) -> bool:
    """A function, method or class of the tests (not a library's), which never crosses as code."""
    if isinstance(obj, types.MethodType):
        return _own_code(obj.__func__) or _own(type(obj.__self__).__module__)
    if isinstance(obj, (types.FunctionType, type)):
        return _own(getattr(obj, "__module__", None))
    return False


class _Pickler(cloudpickle.Pickler):
    """Arguments for the kernel, by value: handles go back as references to the kernel's own objects,
    the test's own functions, classes and their objects as stand-ins that call back to the judge.

    With ``lend`` (a reference piece :func:`course_utils.checks.stand_in` binds in the kernel), the
    test's functions and classes travel as code instead, since the student's code must run them
    there. A leaf tensor travels with its ``.grad``, which plain pickling drops.
    """

    def __init__(self, judge: Judge, file, lend: bool = False):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._judge = judge
        self._lend = lend
        self.refs: list[Any] = []

    def persistent_id(self, obj: Any):
        if type(obj) is Handle:
            self.refs.append(object.__getattribute__(obj, "_ref"))
            return len(self.refs) - 1
        if self._lend and getattr(obj, "__module__", None) == NAMESPACE and hasattr(obj, "__code__"):
            self._judge.resolve_globals(obj.__code__)
        return None

    def reducer_override(self, obj: Any):
        own_instance = type(type(obj)) is type and _own(type(obj).__module__) and not _own_code(obj)
        if not self._lend:
            from .kernel import helper, remote

            if written_in_view(obj, self._judge.hidden):
                self._judge.resolve_globals(obj.__code__)
                return super().reducer_override(obj)
            if _own_code(obj):
                name = getattr(obj, "__name__", "function")
                return helper, (self._judge.serial, self._judge.export(obj), str(name)[:100])
            if own_instance:
                return remote, (self._judge.serial, self._judge.export(obj), type(obj).__name__[:100])
        elif own_instance and type(obj).__module__ == NAMESPACE:
            # An object of a class the test defines: a copy in the kernel, but the same object
            # again when the kernel hands it back (a graph's nodes in a topological order, say).
            reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
            if isinstance(reduced, tuple) and len(reduced) >= 2:
                from .kernel import tagged

                ticket = self._judge.export(obj)
                return (tagged, (ticket, reduced[0], reduced[1]), *reduced[2:])
        torch = sys.modules.get("torch")
        if torch is not None and type(obj) in (torch.Tensor, torch.nn.Parameter) and obj.grad is not None:
            from .kernel import with_grad

            return with_grad, (obj.detach().clone().requires_grad_(obj.requires_grad), obj.grad.detach().clone())
        return super().reducer_override(obj)


class _Channel(Channel):
    """RPyC's channel, counting what the kernel sends against the judge's budget for the cell
    before reading or inflating it (a small compressed frame may inflate to gigabytes)."""

    def __init__(self, stream, judge: Judge):
        super().__init__(stream)
        self._judge = judge

    def recv(self):
        header = self.stream.read(self.FRAME_HEADER.size)
        length, compressed = self.FRAME_HEADER.unpack(header)
        room = self._judge.room()
        if length > room:
            self._judge.overflowed = True
            raise _Overflow("too much data")
        data = self.stream.read(length + len(self.FLUSHER))[:-len(self.FLUSHER)]
        if compressed:
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(data, room + 1)
            except zlib.error:
                raise _Overflow("a corrupt frame") from None
            if len(data) > room or inflater.unconsumed_tail:
                self._judge.overflowed = True
                raise _Overflow("too much data")
        self._judge.received += len(data)
        return data


class _Callbacks(rpyc.Service):
    """The judge's only service: the kernel runs a function of the tests (see :func:`.kernel.helper`)."""

    def __init__(self, judge: Judge):
        super().__init__()
        self._judge = judge

    def exposed_callback(self, serial, number, op, name, node) -> tuple:
        return self._judge.callback(serial, number, op, name, node)


def _call(target, _name, args):
    if type(args) is not tuple or len(args) != 2 or type(args[0]) is not tuple or type(args[1]) is not dict \
            or not all(type(k) is str for k in args[1]):
        raise TypeError("malformed call")
    return target(*args[0], **args[1])


def _setattr(target, name, value):
    setattr(target, name, value)


def _iterate(target, _name, _args) -> list:
    items = []
    for item in target:
        items.append(item)
        if len(items) > wire.MAX_ITEMS:
            raise ValueError("too many items to iterate over")
    return items


BINOPS = frozenset({"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lt", "le", "gt", "ge"})
CALLBACK_OPS = {
    "call": _call,
    "getattr": lambda target, name, _a: getattr(target, name),
    "setattr": _setattr,
    "getitem": lambda target, _n, key: target[key],
    "len": lambda target, _n, _a: len(target),
    "iter": _iterate,
    "bool": lambda target, _n, _a: bool(target),
    "binop": lambda target, name, other: getattr(operator, name)(target, other),
    "rbinop": lambda target, name, other: getattr(operator, name)(other, target),
}


class Judge:
    """Judges the test cells of one notebook against one kernel."""

    def __init__(self, imports: dict[str, str], folder: str | None = None, timeout: float = 90.0,
                 max_bytes: int = MAX_BYTES):
        """``timeout`` bounds one request; the cell's own time limit (the client's) normally ends it first,
        by interrupting the kernel, which then drops the connection. ``max_bytes`` bounds what the
        kernel may send in one test cell."""
        self._own_folder = folder is None
        base = Path(folder or tempfile.mkdtemp(prefix="judge-"))
        self.folder = base / "judge" if folder else base
        self.folder.mkdir(mode=0o711, exist_ok=True)
        os.chmod(self.folder, 0o711)
        self.path = str(self.folder / SOCKET_NAME)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self._listener.listen(1)
        self._listener.settimeout(0.2)
        self.timeout = timeout
        self._conn: rpyc.Connection | None = None
        self._methods: dict[str, Any] = {}
        self._sock: socket.socket | None = None
        self._handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._exports: list[Any] = []
        self._exported: dict[int, int] = {}
        self.serial = 0
        """Numbers the test cell being judged: a stand-in of an earlier cell's function reaches nothing."""
        self._helper_errors: list[BaseException] = []
        self.max_bytes = max_bytes
        self.received = 0
        self.overflowed = False
        self.abandoned = False
        self.lent = False
        self.over_time = False
        """Set by :mod:`.cell` when the judge's own work on this cell used up the cell's time limit."""
        """A reference piece was lent in the kernel during this cell (:meth:`_Namespace.rebind`)."""
        """Set by :mod:`.cell` when the judge's thread outlived its cell's time limit."""
        self._cancelled = threading.Event()
        self.waiting = False
        """True while the judge waits for the kernel to connect (it never will once its cell is over)."""
        self.namespace = _Namespace(self, imports)
        self._stuck = False
        self.requests = 0
        self.hidden: frozenset[int] = frozenset()
        """Lines of the current test cell that are hidden tests (their functions never cross as code)."""

    @classmethod
    def for_release(cls, release, **kwargs) -> Judge:
        """A judge whose own names are those the student version imports (``np``, ``check_close``...)."""
        return cls(release_imports(release), **kwargs)

    @property
    def serve_code(self) -> str:
        """What the kernel runs in place of a test cell."""
        return f"__import__('course_utils.grading.judge.kernel', fromlist=['serve']).serve({self.path!r})"

    # ------------------------------------------------------------------ one test cell

    def run_cell(self, source: str) -> Outcome:
        """Execute a test cell's source here; called in a thread while the kernel runs :attr:`serve_code`."""
        for name in self.namespace.from_kernel:
            self.namespace.pop(name, None)
        self.namespace.from_kernel.clear()
        self._exports.clear()
        self._exported.clear()
        self.serial += 1
        self._helper_errors = []
        self.received, self.overflowed, self.lent, self.over_time = 0, False, False, False
        self._cancelled.clear()
        self.hidden = hidden_lines(source)
        out = io.StringIO()
        error: BaseException | None = None
        if self._stuck or self.abandoned:
            self._finish()
            return Outcome(False, "RuntimeError", OVER_TIME if self.abandoned else STUCK)
        try:
            code = compile(source, CELL_FILE, "exec")
            with contextlib.redirect_stdout(out):
                exec(code, self.namespace)  # noqa: S102  (the instructor's test cell)
            outcome = Outcome(True)
        except StudentError as exc:
            error, outcome = exc, Outcome(False, type(exc).__name__, exc.evalue, exc.detail)
        except JudgeStopped:
            error, outcome = None, Outcome(False, "TimeoutError", OVER_LIMIT)
        except KernelUnavailable as exc:
            error, outcome = exc, Outcome(False, exc.ename, str(exc))
        except Exception as exc:  # noqa: BLE001  (a failing check, or the test's own error)
            error, outcome = exc, Outcome(False, type(exc).__name__, str(exc))
        finally:
            self.received = 0  # putting the student's own functions back is owed whatever came before
            restored = self._restore()
            self._finish()
        if self.over_time:
            outcome, error = Outcome(False, "TimeoutError", OVER_LIMIT), None
        if not restored:
            # The reference pieces may still stand in the kernel: later tests must not pass on them.
            outcome, error = Outcome(False, "TimeoutError", LINK_LOST), None
            self._stuck = True
        if not outcome.passed and error is not None:
            outcome.line = _cell_line(error.__traceback__)
        outcome.stdout = out.getvalue()[:100_000]
        return outcome

    def _restore(self) -> bool:
        try:
            self.namespace.restore()
            return True
        except Exception:  # noqa: BLE001  (the kernel stopped answering)
            self._hang_up()
            return False

    def cancel(self) -> None:
        """The kernel stopped serving: give up on the current cell and drop the connection."""
        self._cancelled.set()
        self._hang_up()

    def drop_link(self) -> None:
        """Hang up on the kernel (from another thread); the current cell can still finish with a new link."""
        self._hang_up()

    def close(self) -> None:
        self._hang_up()
        self._listener.close()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    # ------------------------------------------------------------------ requests to the kernel

    def lookup(self, name: str) -> Any:
        reply = self._request("lookup", name)
        if type(reply) is tuple and reply == ("undefined",):
            raise KeyError(name)
        if type(reply) is not tuple or len(reply) != 2 or reply[0] != "ok":
            raise wire.WireError("malformed answer from the kernel")
        return wire.decode(reply[1], self._handle, returned=self._returned)

    def assign(self, name: str, value: Any, undefined: bool = False) -> None:
        """Bind ``name`` in the kernel's namespace to ``value`` (by value, or the kernel's own object);
        with ``undefined``, remove it."""
        blob, refs = (b"", ()) if undefined else self._pickled(value, lend=True)
        reply = self._request("assign", name, blob, refs)
        if type(reply) is not tuple or reply != ("ok",):
            raise wire.WireError("malformed answer from the kernel")

    def _pickled(self, value: Any, lend: bool = False) -> tuple[bytes, tuple]:
        buffer = io.BytesIO()
        pickler = _Pickler(self, buffer, lend=lend)
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20_000))  # a test's graph may be hundreds of nodes deep
        try:
            pickler.dump(value)
        finally:
            sys.setrecursionlimit(limit)
        return buffer.getvalue(), tuple(pickler.refs)

    def apply(self, target: Handle, op: str, name: str = "", args: Any = None) -> Any:
        blob, refs = b"", ()
        back: tuple[int, ...] = ()
        if args is not None:
            blob, refs = self._pickled(args)
            if op == "call":
                back = tuple(i for i, a in enumerate(args[0]) if wire.mutable(a))
        ref = object.__getattribute__(target, "_ref")
        return self._answer(self._request("apply", ref, op, name, blob, refs, back), args, back)

    def run_in_kernel(self, function: Any, args: tuple, kwargs: dict) -> Any:
        """``function(*args, **kwargs)`` in the kernel, lent as :meth:`assign` lends (its code
        crosses and is taken back when the cell ends): one request where the same work done from
        here would cost one per object it touches (:func:`course_utils.checks.in_kernel`). Unlike
        :meth:`_Namespace.rebind` it binds no name, so a cell stopped midway leaves nothing to put back."""
        blob, refs = self._pickled((function, tuple(args), dict(kwargs)), lend=True)
        return self._answer(self._request("run", blob, refs), None, ())

    def _answer(self, reply: Any, args: Any, back: tuple[int, ...]) -> Any:
        if type(reply) is not tuple or not reply:
            raise wire.WireError("malformed answer from the kernel")
        if reply[0] == "raise" and len(reply) == 4 and all(type(x) is str for x in reply[1:]):
            raised = HELPER_RAISED.search(reply[2])
            if raised and int(raised.group(1)) < len(self._helper_errors):
                # A function of the tests failed (a check inside it, say): the test fails with that error.
                raise self._helper_errors[int(raised.group(1))]
            raise student_error(*reply[1:])
        if reply[0] != "ok" or len(reply) != 3 or type(reply[2]) is not tuple or len(reply[2]) != len(back):
            raise wire.WireError("malformed answer from the kernel")
        for index, state in zip(back, reply[2]):
            wire.apply_state(args[0][index], state, self._handle, self._returned)
        return wire.decode(reply[1], self._handle, returned=self._returned)

    def _request(self, what: str, *args: Any) -> Any:
        conn = self._connection()
        self.requests += 1
        try:
            return self._method(conn, what)(*args)
        except (EOFError, OSError, TimeoutError) as exc:
            self._hang_up()
            if self.overflowed:
                raise JudgeLimit(TOO_MUCH.format(mib=self.max_bytes / 2**20)) from None
            raise KernelUnavailable(LINK_LOST) from exc
        except Exception as exc:
            if type(exc).__name__ == "AsyncResultTimeout":
                self._hang_up()
                raise KernelUnavailable(f"the notebook's code took more than {self.timeout:g} s "
                                        "to answer one request of the tests") from exc
            if hasattr(exc, "_remote_tb"):
                # The student's own errors come back as ("raise", ...) replies; an exception RPyC
                # carries across is the kernel's side of the link failing (under load, a kernel
                # interrupted mid-request reports its closed stream before the grader sees EOF).
                self._hang_up()
                raise KernelUnavailable(LINK_LOST) from exc
            raise

    def _method(self, conn: rpyc.Connection, what: str) -> Any:
        # RPyC fetches a remote method as a message of its own (and frees it with another):
        # kept per connection, each request is one round trip instead of two.
        method = self._methods.get(what)
        if method is None:
            method = self._methods[what] = getattr(conn.root, what)
        return method

    def _connection(self) -> rpyc.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self.waiting = True
        try:
            return self._accept()
        finally:
            self.waiting = False

    def _accept(self) -> rpyc.Connection:
        while not self._cancelled.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(None)
            self._sock = sock
            config = dict(CONFIG, sync_request_timeout=self.timeout)
            self._methods = {}
            self._conn = rpyc.connect_channel(_Channel(SocketStream(sock), self), service=_Callbacks(self),
                                              config=config)
            return self._conn
        raise KernelUnavailable("the notebook's code stopped the kernel from answering the tests")

    def _finish(self) -> None:
        # Even a test that needed nothing from the kernel must release it: its serving loop
        # connected (or kept the last connection) and waits for this word.
        try:
            conn = self._connection()
            self._method(conn, "done")()
        except Exception:  # noqa: BLE001  (whatever the kernel did, this cell is over)
            self._hang_up()

    def _hang_up(self) -> None:
        conn, self._conn = self._conn, None
        sock, self._sock = self._sock, None
        self._methods = {}
        # A handle names its object through this connection; reused over the next one it would
        # reach the kernel as an object of the judge's, so each connection gets handles of its own.
        self._handles = weakref.WeakValueDictionary()
        if sock is not None:
            # Shut the socket first: RPyC's close() asks the peer, which may not be listening.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _handle(self, ref: Any, type_name: str) -> Handle:
        """One handle per kernel object, so that ``is``, sets and dicts of handles behave."""
        key = object.__getattribute__(ref, "____id_pack__")
        found = self._handles.get(key)
        if found is None:
            found = self._handles[key] = Handle(self, ref, type_name)
        return found

    def export(self, obj: Any) -> int:
        """A number for an object of the test's that the kernel may hold (as a stand-in) and hand back."""
        number = self._exported.get(id(obj))
        if number is None:
            self._exports.append(obj)
            number = self._exported[id(obj)] = len(self._exports) - 1
        return number

    def _returned(self, number: Any) -> Any:
        if type(number) is not int or not 0 <= number < len(self._exports):
            raise wire.WireError("the kernel named an object the test never gave it")
        return self._exports[number]

    def room(self) -> int:
        """Bytes the kernel may still send in this test cell."""
        return max(self.max_bytes - self.received, 0)

    def callback(self, serial: Any, number: Any, op: Any, name: Any, node: Any) -> tuple:
        """The kernel runs a function of the tests (or reads an object of theirs) here, on its arguments.

        Everything comes from the kernel: the numbers are checked against this cell's exports, the
        arguments rebuilt by :func:`.wire.decode`, and only the result goes back, as arguments do.
        An error goes back as its type and a number only; if the student's code lets it through,
        the test fails with the error itself.
        """
        try:
            # Types first: anything else the kernel sends is a netref, which must not even be compared.
            if (type(serial) is not int or type(number) is not int or type(op) is not str or type(name) is not str
                    or serial != self.serial or not 0 <= number < len(self._exports) or op not in CALLBACK_OPS
                    or name.startswith("__") or (op in ("binop", "rbinop") and name not in BINOPS)):
                raise wire.WireError("the kernel called a function the tests did not give it")
            args = wire.decode(node, self._handle, returned=self._returned)
            result = CALLBACK_OPS[op](self._exports[number], name, args)
            if op in ("len", "bool") and type(result) not in (int, bool):
                result = int(result)
            blob, refs = self._pickled(result)
            return ("ok", blob, refs)
        except KernelUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001  (whatever failed, the kernel learns only its type)
            self._helper_errors.append(exc)
            ename = type(exc).__name__ if type(exc).__name__ in KNOWN_ERRORS else "RuntimeError"
            return ("raise", ename, len(self._helper_errors) - 1)

    def resolve_globals(self, code) -> None:
        """Look up the names a test's function uses, so that they travel with it to the kernel."""
        for name in code.co_names:
            with contextlib.suppress(Exception):
                self.namespace[name]
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                self.resolve_globals(const)


def release_imports(release) -> dict[str, str]:
    """The names a student version imports from trusted modules, and their dotted paths.

    ``import a.b`` binds ``a`` but also loads ``a.b``: it appears under both keys, ``a`` and
    ``a.b`` (a key no test can name), so that the judge and :func:`preload` load ``a.b`` too.
    """
    from ...nbtools import import_bindings

    imports: dict[str, str] = {}
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        imports.update({k: v for k, v in import_bindings(tree).items() if wire.trusted_path(v)})
        imports.update({alias.name: alias.name for node in tree.body if isinstance(node, ast.Import)
                        for alias in node.names
                        if "." in alias.name and not alias.asname and wire.trusted_path(alias.name)})
    return imports


def preload(notebooks) -> None:
    """Import what the judges will use, ahead of the first test.

    ``notebooks`` holds (student version, source version or None) pairs. A grading worker runs
    this in a thread as it starts: it would otherwise import scipy.stats or torch (seconds)
    inside its first test cell, on the notebook's clock. Only what the test cells name is
    loaded (the source's, hidden tests included, else the student version's): the plotting
    modules a notebook imports are never the judge's, and would compete with the first kernel.
    """
    from ...nbtools import is_test_cell

    for release, source in notebooks:
        imports = release_imports(release)
        named: set[str] = set()
        for cell in (source or release).cells:
            if is_test_cell(cell):
                named |= nbtools.names_read(nbtools.parse(cell.source))
        for key, path in imports.items():
            if key.split(".")[0] in named:
                with contextlib.suppress(Exception):  # a missing module fails its test cell, as before
                    wire.resolve(path)


def _cell_line(tb) -> int | None:
    """The line of the test cell's own statement (its outermost frame) where the error came from."""
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CELL_FILE:
            return tb.tb_lineno
        tb = tb.tb_next
    return None


class StudentError(Exception):
    """Mixed into the builtin exception the student's code raised, so a test's ``except`` still works."""

    evalue: str = ""
    detail: list[str] = []


_ERROR_TYPES: dict[str, type] = {}


def student_error(ename: str, evalue: str, detail: str) -> BaseException:
    """The kernel's exception as one of Python's own (any other type becomes a RuntimeError)."""
    base = KNOWN_ERRORS.get(ename, RuntimeError)
    if base.__name__ not in _ERROR_TYPES:
        _ERROR_TYPES[base.__name__] = type(base.__name__, (StudentError, base), {})
    text = evalue if ename in KNOWN_ERRORS else f"{ename}: {evalue}"
    error = _ERROR_TYPES[base.__name__](text)
    error.evalue = text
    error.detail = [line for line in detail.splitlines() if "course_utils/grading/judge" not in line]
    return error
