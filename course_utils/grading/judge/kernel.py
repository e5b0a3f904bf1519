"""The kernel's side of the judge: answers the judge's requests on the student's objects.

At grading time the grader runs ``serve(path)`` in the student's kernel in place of each
test cell. It connects to the judge's socket and answers requests (look up a name, call a
function, read an attribute, ...) until the judge says the test cell is done. Everything
here runs inside the student's process and may be tampered with by the notebook; that
can only change the answers the judge receives, never the judge's verdict on them.
"""

from __future__ import annotations

import contextlib
import operator
import pickle
import socket
import sys
import traceback
from typing import Any

import rpyc
from rpyc.core.stream import SocketStream

from . import wire
from .wire import TICKETS, encode, encode_state

CONFIG = {"allow_pickle": False, "allow_all_attrs": False, "allow_public_attrs": False,
          "allow_setattr": False, "allow_delattr": False, "include_local_traceback": False,
          "sync_request_timeout": None}
MAX_ITERATION = 10_000_000
_state: dict[str, Any] = {"conn": None, "callback": None, "done": False, "serving": False, "serial": None}
_PROXIES: dict[int, Any] = {}
LENT_MODULES = ("course_utils.grading.references",)
"""The course's reference code, which the judge sends by value (the sandbox does not show it)."""
_made: list[tuple[Any, bool]] = []
"""Functions and classes the judge's pickles rebuilt here this test cell, and whether stand_in lent them."""
"""number -> the stand-in of a test's object or function, for this test cell (one each, so ``is`` holds)."""


def serve(path: str) -> None:
    """Answer the judge's requests until it has finished the current test cell."""
    for attempt in range(2):
        conn = _state["conn"]
        if conn is None or conn.closed:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            conn = _state["conn"] = rpyc.connect_stream(SocketStream(sock), service=KernelService, config=CONFIG)
            _state["callback"] = None
        _state["done"] = False
        TICKETS.clear()
        _PROXIES.clear()
        take_back()  # in case the last cell ended without its word
        _state["serving"] = True
        try:
            while not _state["done"]:
                conn.serve(1.0)
            return
        except EOFError:
            # The judge hung up after an earlier cell (a request that ran out of time): connect anew.
            _state["conn"] = None
            if attempt:
                raise
        except BaseException:
            _state["conn"] = None
            conn.close()
            raise
        finally:
            _state["serving"] = False


def tagged(ticket: int, build, args):
    """An object of a class the test defined, rebuilt here from a reference piece the test lent
    (:func:`course_utils.checks.stand_in`), remembered so it goes back as itself."""
    obj = build(*args)
    TICKETS[id(obj)] = (obj, ticket)
    return obj


def helper(serial: int, number: int, name: str) -> Any:
    """A function (or class, or method) of the tests, as the kernel sees it: calling it runs it in
    the judge. Its code never comes here; only its arguments go there, as values or handles."""
    return _proxy(serial, number, lambda: _Helper(serial, number, name))


def remote(serial: int, number: int, type_name: str) -> Any:
    """An object of a class the tests define: its attributes and methods are the judge's."""
    return _proxy(serial, number, lambda: _Remote(serial, number, type_name))


def _proxy(serial: int, number: int, make) -> Any:
    found = _PROXIES.get(number)
    if found is None or _state["serial"] != serial:
        _state["serial"] = serial
        found = _PROXIES[number] = make()
        TICKETS[id(found)] = (found, number)
    return found


def _callback(serial: int, number: int, op: str, name: str = "", args: Any = ()) -> Any:
    conn = _state["conn"]
    if not _state["serving"] or conn is None or conn.closed:
        raise RuntimeError("a function of the tests can only be used while its test runs")
    before = wire.GRAPH["keep"]
    wire.GRAPH["keep"] = True
    try:
        if _state["callback"] is None:  # fetched once per connection: each call-back is then one round trip
            _state["callback"] = conn.root.callback
        reply = _state["callback"](serial, number, op, name, encode(args))
    finally:
        wire.GRAPH["keep"] = before
    if reply[0] == "ok":
        return _Unpickler(reply[1], reply[2]).load()
    raise _ERRORS.get(reply[1], RuntimeError)(f"raised by a function of the tests ({reply[1]} #{reply[2]})")


_ERRORS = {e.__name__: e for e in (AttributeError, IndexError, KeyError, LookupError, NotImplementedError,
                                    StopIteration, TypeError, ValueError, ZeroDivisionError, ArithmeticError,
                                    OverflowError, FloatingPointError, AssertionError, RuntimeError)}


class _Helper:
    """Stands for a function of the tests; see :func:`helper`."""

    __slots__ = ("_serial", "_number", "_name", "__weakref__")

    def __init__(self, serial: int, number: int, name: str):
        self._serial, self._number, self._name = serial, number, name

    def __call__(self, *args, **kwargs):
        return _callback(self._serial, self._number, "call", "", (args, kwargs))

    def __repr__(self) -> str:
        return f"<function of the tests {self._name}>"


class _Remote:
    """Stands for an object of a class the tests define; see :func:`remote`."""

    __slots__ = ("_serial", "_number", "_type", "__weakref__")

    def __init__(self, serial: int, number: int, type_name: str):
        object.__setattr__(self, "_serial", serial)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_type", type_name)

    def _ask(self, op: str, name: str = "", args: Any = ()) -> Any:
        return _callback(object.__getattribute__(self, "_serial"), object.__getattribute__(self, "_number"),
                         op, name, args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._ask("setattr", name, value)

    def __call__(self, *args, **kwargs):
        return self._ask("call", "", (args, kwargs))

    def __getitem__(self, key):
        return self._ask("getitem", "", key)

    def __len__(self) -> int:
        return self._ask("len")

    def __iter__(self):
        return iter(self._ask("iter"))

    def __bool__(self) -> bool:
        return self._ask("bool") is True

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_type')} of the tests>"


def _remote_operator(name: str, reflected: bool = False):
    return lambda self, other: self._ask("rbinop" if reflected else "binop", name, other)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(_Remote, f"__{_name}__", _remote_operator(_name))
    setattr(_Remote, f"__r{_name}__", _remote_operator(_name, reflected=True))
for _name in ("lt", "le", "gt", "ge"):
    setattr(_Remote, f"__{_name}__", _remote_operator(_name))


def with_grad(tensor, grad):
    """A leaf tensor with its gradient, as the judge had it (pickling alone drops ``.grad``)."""
    tensor.grad = grad
    return tensor


def _gone(*_args, **_kwargs):
    raise LookupError("a reference piece lent to an earlier test was used after that test ended")


def take_back() -> None:
    """What a test lent (checks.stand_in), and any reference code it sent, stops working here.

    Taken back in place, so a copy the notebook kept is dead too, and blank: no docstring or
    name of the test's is left to print. A class is also forgotten by cloudpickle, so the next
    test that lends it gets a new one rather than this one revived.
    """
    made, _made[:] = list(_made), []
    if not made:
        return
    from cloudpickle import cloudpickle as cp

    for obj, lent in made:
        if not lent and getattr(obj, "__module__", None) not in LENT_MODULES:
            continue
        if isinstance(obj, type):
            with cp._DYNAMIC_CLASS_TRACKER_LOCK:
                cp._DYNAMIC_CLASS_TRACKER_BY_ID.pop(cp._DYNAMIC_CLASS_TRACKER_BY_CLASS.pop(obj, None), None)
            for name in list(vars(obj)):
                if name not in ("__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"):
                    with contextlib.suppress(Exception):
                        setattr(obj, name, _gone)
        elif hasattr(obj, "__code__") and not obj.__code__.co_freevars:
            with contextlib.suppress(Exception):
                obj.__code__ = _gone.__code__
        for name, blank in (("__doc__", None), ("__name__", "taken_back"), ("__qualname__", "taken_back")):
            with contextlib.suppress(Exception):
                setattr(obj, name, blank)


class _Unpickler(pickle.Unpickler):
    def __init__(self, blob: bytes, refs: tuple, lent: bool = False):
        import io

        super().__init__(io.BytesIO(blob))
        self._refs = refs
        self._lent = lent

    def persistent_load(self, pid):
        return self._refs[pid]

    def find_class(self, module: str, name: str):
        found = super().find_class(module, name)
        if module.split(".")[0] == "cloudpickle" and name in ("_make_function", "_make_skeleton_class"):
            def make(*args, _make=found, _lent=self._lent):
                obj = _make(*args)
                _made.append((obj, _lent))
                return obj
            return make
        return found


class KernelService(rpyc.Service):
    """What the judge may ask of the kernel. Every answer is a plain value or a handle."""

    def exposed_lookup(self, name: str) -> tuple:
        namespace = _user_namespace()
        if name not in namespace:
            return ("undefined",)
        return ("ok", encode(namespace[name]))

    def exposed_assign(self, name: str, blob: bytes, refs: tuple) -> tuple:
        """Bind a notebook name to a value of the test's (a reference piece, see checks.stand_in);
        an empty ``blob`` removes the name."""
        if blob:
            _user_namespace()[name] = _Unpickler(blob, refs, lent=True).load()
        else:
            _user_namespace().pop(name, None)
        return ("ok",)

    def exposed_done(self) -> None:
        take_back()
        _state["done"] = True

    def exposed_run(self, blob: bytes, refs: tuple) -> tuple:
        """Call a function the judge lends, on arguments it sends (checks.in_kernel)."""
        try:
            function, args, kwargs = _Unpickler(blob, refs, lent=True).load()
            return ("ok", encode(function(*args, **kwargs)), ())
        except Exception as exc:  # noqa: BLE001  (the student's code may raise anything)
            return _raised(exc)

    def exposed_apply(self, target, op: str, name: str, blob: bytes, refs: tuple, back: tuple) -> tuple:
        try:
            args = _Unpickler(blob, refs).load() if blob else None
            result = _APPLY[op](target, name, args)
            states = tuple(encode_state(args[0][i]) for i in back) if op == "call" else ()
            return ("ok", encode(result), states)
        except Exception as exc:  # noqa: BLE001  (the student's code may raise anything)
            return _raised(exc)


def _raised(exc: Exception) -> tuple:
    """The answer for an error of the notebook's code: its type, message and last frames, as text."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return ("raise", type(exc).__name__, str(exc)[:2000], "".join(lines[-12:])[-4000:])


def _user_namespace() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def _iterate(obj, _name, _args) -> list:
    items = []
    for item in obj:
        items.append(item)
        if len(items) > MAX_ITERATION:
            raise ValueError("too many items to iterate over")
    return items


_APPLY = {
    "call": lambda obj, _n, args: obj(*args[0], **args[1]),
    "getattr": lambda obj, name, _a: getattr(obj, name),
    "setattr": lambda obj, name, value: setattr(obj, name, value),
    "getitem": lambda obj, _n, key: obj[key],
    "setitem": lambda obj, _n, args: operator.setitem(obj, *args),
    "delitem": lambda obj, _n, key: operator.delitem(obj, key),
    "len": lambda obj, _n, _a: len(obj),
    "iter": _iterate,
    "bool": lambda obj, _n, _a: bool(obj),
    "str": lambda obj, _n, _a: str(obj)[:100_000],
    "repr": lambda obj, _n, _a: repr(obj)[:100_000],
    "contains": lambda obj, _n, item: item in obj,
    "isinstance": lambda obj, _n, item: isinstance(item, obj),
    "issubclass": lambda obj, _n, item: issubclass(item, obj),
    "float": lambda obj, _n, _a: float(obj),
    "int": lambda obj, _n, _a: int(obj),
    "index": lambda obj, _n, _a: operator.index(obj),
    "array": lambda obj, _n, _a: __import__("numpy").asarray(obj),
    "binop": lambda obj, name, other: getattr(operator, name)(obj, other),
    "rbinop": lambda obj, name, other: getattr(operator, name)(other, obj),
    "unary": lambda obj, name, _a: getattr(operator, name)(obj),
}
