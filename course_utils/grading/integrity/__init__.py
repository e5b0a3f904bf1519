"""Integrity of the grade: noticing a submission that replaced what the tests rely on.

Hidden tests compare plain values with :mod:`course_utils.checks`, whose own
functions are bound before any student code runs. What is left to a student is
replacing things in the kernel: ``np.testing.assert_allclose = lambda *a: None``,
``builtins.isinstance = ...``, ``def check_close(*a, **k): pass``. Two checks at
autograde catch that, and the grading command marks the submission ``flagged``:

- at run time (:class:`Monitor`, run by ``execute.TrackedExecute``): before
  the first cell, the kernel reports the identity of every function of the
  watched modules (:data:`WATCHED`: builtins, ``math``, NumPy and
  ``numpy.testing``, ``scipy.stats``, torch, ``torch.testing``,
  ``torch.nn.functional``, ``torch.Tensor``, ``course_utils.checks``); after
  every test cell it reports them again, and whether the names the test uses
  (``check_close``, ``np``, ``len``) are still what the course imported. A
  test cell that ran with anything replaced gets an ``IntegrityError`` output,
  so nbgrader scores it 0, and the error says what was replaced;
- before running (:func:`scan`), the source of the cells a student can edit is
  read for code that replaces such things or reaches around Python's scoping
  to do it (``setattr(np, ...)``, ``sys.modules``, ``__builtins__``,
  ``sys._getframe``, ``gc.get_referrers``, ``ctypes``, ``exec``). This catches a
  replacement that undoes itself before the run-time check; the scores are
  left as they are, for the instructor to review.

Neither is a proof: code in the kernel could in principle lie to the run-time
check. But everything a student would have to do to fool it is itself in the
source, which the instructor sees with the flag.

The plan of what to watch is :mod:`.plan`, the run-time check :mod:`.monitor`, the source scan
:mod:`.scanner`; the AST helpers they share with the rest of the course are in
:mod:`course_utils.nbtools`.
"""

from .monitor import ERROR_NAME, SCORED_ZERO, Monitor, ProbeFailed, error_output
from .plan import ALWAYS, BUILTIN_NAMES, ROOTS, WATCHED, Plan, parse
from .scanner import scan

__all__ = ["ALWAYS", "BUILTIN_NAMES", "ERROR_NAME", "ROOTS", "SCORED_ZERO", "WATCHED", "Monitor", "Plan",
           "ProbeFailed", "error_output", "parse", "scan"]
