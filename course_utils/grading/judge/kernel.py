"""The kernel's side of the judge: answers the judge's requests on the student's objects.

At grading time the grader runs ``serve(path)`` in the student's kernel in place of each
test cell. It connects to the judge's socket and answers requests (look up a name, call a
function, read an attribute, ...) until the judge says the test cell is done. Everything
here runs inside the student's process and may be tampered with by the notebook; that
can only change the answers the judge receives, never the judge's verdict on them.
"""

from __future__ import annotations

import operator
import pickle
import socket
import sys
import traceback
from typing import Any

import rpyc
from rpyc.core.stream import SocketStream

from .wire import TICKETS, encode, encode_state

CONFIG = {"allow_pickle": False, "allow_all_attrs": False, "allow_public_attrs": False,
          "allow_setattr": False, "allow_delattr": False, "include_local_traceback": False,
          "sync_request_timeout": None}
MAX_ITERATION = 10_000_000
_state: dict[str, Any] = {"conn": None, "done": False}


def serve(path: str) -> None:
    """Answer the judge's requests until it has finished the current test cell."""
    for attempt in range(2):
        conn = _state["conn"]
        if conn is None or conn.closed:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            conn = _state["conn"] = rpyc.connect_stream(SocketStream(sock), service=KernelService, config=CONFIG)
        _state["done"] = False
        TICKETS.clear()
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


def tagged(ticket: int, build, args):
    """An object of a class the test defined, rebuilt here, remembered so it goes back as itself."""
    obj = build(*args)
    TICKETS[id(obj)] = (obj, ticket)
    return obj


def with_grad(tensor, grad):
    """A leaf tensor with its gradient, as the judge had it (pickling alone drops ``.grad``)."""
    tensor.grad = grad
    return tensor


class _Unpickler(pickle.Unpickler):
    def __init__(self, blob: bytes, refs: tuple):
        import io

        super().__init__(io.BytesIO(blob))
        self._refs = refs

    def persistent_load(self, pid):
        return self._refs[pid]


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
            _user_namespace()[name] = _Unpickler(blob, refs).load()
        else:
            _user_namespace().pop(name, None)
        return ("ok",)

    def exposed_done(self) -> None:
        _state["done"] = True

    def exposed_apply(self, target, op: str, name: str, blob: bytes, refs: tuple, back: tuple) -> tuple:
        try:
            args = _Unpickler(blob, refs).load() if blob else None
            result = _APPLY[op](target, name, args)
            states = tuple(encode_state(args[0][i]) for i in back) if op == "call" else ()
            return ("ok", encode(result), states)
        except Exception as exc:  # noqa: BLE001  (the student's code may raise anything)
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
