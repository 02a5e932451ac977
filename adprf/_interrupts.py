"""Ctrl-C on the command line: end the process at once with status 130, never crash.

Python's usual answer to Ctrl-C (raise `KeyboardInterrupt` in the main thread, unwind, return
from `main`, finalise the interpreter) is unsafe under JAX, for two reasons:

- A running XLA program cannot be interrupted. While a compiled attack or ODE solve executes,
  the main thread waits in native code, and Python raises `KeyboardInterrupt` only when the
  program returns (minutes, or hours, later). A host callback inside the program (a model's
  `jax.debug.print`) mostly runs on XLA's threads, where Python never raises it either.
- Waiting for the XLA compiler can be interrupted, but the compilation goes on in XLA's
  threads. Returning from `main` then runs interpreter finalisation and `exit()`, whose C++
  static destructors tear down LLVM under the compiling thread: the process segfaults (or
  aborts with "pure virtual method called") seconds later.

`ExitOnInterrupt` ends the process with `os._exit` instead, which runs no finalisation and no
destructors, after flushing `sys.stdout` and `sys.stderr` and printing the resume message.
When the main thread runs Python, the first Ctrl-C still raises `KeyboardInterrupt` so that
`finally` blocks run (progress bars close; `adprf._results.atomic_write` deletes its temporary
file); when it sits in native code, a watcher thread, woken by the signal through
`signal.set_wakeup_fd`, ends the process after `grace` seconds. A second Ctrl-C ends it at once.

Nothing finished is lost: `adprf._results.atomic_write` writes a temporary file and
`os.replace`s it into place, so an exit at any instant leaves either the whole new file or the
previous state, never a truncated one. At worst (the watcher ending a write the main thread
had not finished) a hidden temporary stays beside it, which the next `Run` of that folder
removes (`adprf._results.clean_temporaries`).
"""

import gc
import os
import select
import signal
import sys
import threading
import time
from typing import Literal

_CALLBACK_MODULE = os.path.join("jax", "_src", "callback.py")


def _cannot_unwind(frame) -> bool:
    """Whether `frame` runs where a raised `KeyboardInterrupt` would not unwind the program:
    - inside a JAX host callback (e.g. `jax.debug.print`): XLA may run a program, and call back
      into Python, on the main thread itself; raising there fails the callback, which JAX logs
      with a traceback, and the program goes on;
    - inside a garbage-collector callback (JAX registers one) or a `__del__`: Python prints the
      exception as "Exception ignored in ..." with a traceback, and goes on."""
    collector = {callback.__code__ for callback in gc.callbacks if hasattr(callback, "__code__")}
    while frame is not None:
        code = frame.f_code
        if code.co_filename.endswith(_CALLBACK_MODULE) or code in collector or code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


class ExitOnInterrupt:
    """Context manager: a Ctrl-C (SIGINT) inside the block ends the process with `status`.

    **Arguments:**
    - `message`: printed to stderr on the way out (e.g. how to resume).
    - `status`: the exit status (130 = 128 + SIGINT, the shell convention).
    - `grace`: seconds the main thread gets to unwind after the first Ctrl-C before the
      watcher ends the process; a second Ctrl-C does not wait.

    The guard is active only in the main thread and when SIGINT is not ignored (a background
    job of a non-interactive shell ignores it, and keeps ignoring it). A `KeyboardInterrupt`
    raised by code rather than by a signal propagates as usual.
    """

    def __init__(self, message: str, *, status: int = 130, grace: float = 1.0):
        self.message, self.status, self.grace = message, status, grace
        self.interrupted = threading.Event()
        self._raised = False
        self._exiting = threading.Lock()
        self._restore = None

    def __enter__(self) -> "ExitOnInterrupt":
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN,
            None,
        ):
            return self
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        try:
            old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except ValueError:  # no wakeup fd here: the handler alone, no watcher
            os.close(read_fd)
            os.close(write_fd)
            read_fd = write_fd = old_fd = None
        old_handler = signal.signal(signal.SIGINT, self._on_signal)
        if read_fd is not None:
            threading.Thread(target=self._watch, args=(read_fd,), name="adprf-interrupt-watcher", daemon=True).start()
        self._restore = (old_handler, old_fd, write_fd)
        return self

    def __exit__(self, kind, error, traceback) -> Literal[False]:  # never swallows an exception
        if self.interrupted.is_set():
            # Whatever the block raised (KeyboardInterrupt, or an error wrapping it, such as a
            # callback's failure) or even if it finished: XLA may still be compiling or running.
            self.exit()
        if self._restore is not None:
            old_handler, old_fd, write_fd = self._restore
            self._restore = None
            signal.signal(signal.SIGINT, old_handler)
            if old_fd is not None:
                signal.set_wakeup_fd(old_fd)
            if write_fd is not None:
                os.close(write_fd)  # the watcher reads end-of-file and stops
        return False

    def _on_signal(self, signum, frame):
        """Python-level SIGINT handler (main thread, between bytecodes): the first raises
        `KeyboardInterrupt` to unwind, unless it lands where that cannot unwind (then the
        watcher exits after `grace`); later ones do nothing, the watcher exits at once."""
        self.interrupted.set()
        if not self._raised and not _cannot_unwind(frame):
            self._raised = True
            raise KeyboardInterrupt

    def _watch(self, read_fd: int):
        """Watcher thread: woken by the signal numbers the C-level handler writes to the
        wakeup fd, whatever the main thread is doing; exits `grace` s after the first SIGINT
        or at the second."""
        deadline = None
        try:
            while True:
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([read_fd], [], [], timeout)
                if not ready:
                    self.exit()
                data = os.read(read_fd, 64)
                if not data:
                    return
                for _ in range(data.count(signal.SIGINT)):
                    self.interrupted.set()
                    if deadline is not None:
                        self.exit()
                    deadline = time.monotonic() + self.grace
        finally:
            os.close(read_fd)

    def exit(self):
        """Flush Python's streams, print the message and end the process now, skipping
        interpreter finalisation (never returns; a second caller waits for the end)."""
        with self._exiting:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            try:
                os.write(2, (self.message + "\n").encode())
            except OSError:
                pass
            os._exit(self.status)
