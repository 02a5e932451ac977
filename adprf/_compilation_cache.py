"""JAX's persistent compilation cache in adprf's cache folder.

XLA compiles every new program; the CLI, the tests and the notebooks compile the same programs
run after run (an attack loop, an ODE solve, a training epoch). JAX can keep the compiled
executables on disk, keyed by the program's HLO, the JAX/jaxlib versions, the backend and the
compiler flags, so a changed program or a new JAX never reads a stale entry. adprf turns that
cache on, in `compilation_cache_dir()`, for its command line, its test suite and its
notebooks; a library import leaves JAX's configuration alone.

Turn it off with `ADPRF_COMPILATION_CACHE=off` (or `adprf ... --no-compilation-cache`); point it
elsewhere with `ADPRF_COMPILATION_CACHE=/some/folder`. The folder grows with every new program
(tens to hundreds of MB for the quick presets); delete it to reclaim the space.
"""

import os
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

OFF = ("0", "off", "false", "no", "none")
"""Values of `ADPRF_COMPILATION_CACHE` that turn the cache off."""

MIN_COMPILE_SECONDS = 0.0
"""Programs that compile faster than this are not written (JAX's default, 1 s, suits remote
file systems; on a local disk reading back even a small program beats compiling it)."""


def compilation_cache_dir() -> Path | None:
    """Where adprf keeps compiled programs.

    **Returns:**

    `$ADPRF_COMPILATION_CACHE` when it names a folder, `None` when it is one of `OFF`, else
    `jax-compilation/` in adprf's cache folder (`$XDG_CACHE_HOME/adprf` or `~/.cache/adprf`).
    """
    setting = os.environ.get("ADPRF_COMPILATION_CACHE", "").strip()
    if setting.lower() in OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "adprf" / "jax-compilation"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache, unless it is turned off.

    **Arguments:**

    - `path`: the folder; default `compilation_cache_dir()`. An explicit path wins over
      `$ADPRF_COMPILATION_CACHE`; a folder already configured in JAX (e.g. by
      `JAX_COMPILATION_CACHE_DIR`) wins over adprf's default.

    **Returns:**

    The folder in use, or `None` when the cache is off.
    """
    if path is None and os.environ.get("ADPRF_COMPILATION_CACHE", "").strip().lower() in OFF:
        return None
    if path is not None and not str(path).strip():
        raise ValueError("enable_compilation_cache: the folder is empty; pass a folder, or None for the default")
    configured = jax.config.values.get("jax_compilation_cache_dir")
    if path is None and configured:
        return Path(configured)
    folder = Path(path).expanduser() if path is not None else compilation_cache_dir()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            f"cannot create the compilation cache folder {folder} ({error.strerror}): set "
            f"ADPRF_COMPILATION_CACHE to a writable folder, or to 'off'"
        ) from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if configured and Path(configured) != folder:
        compilation_cache.reset_cache()  # a cache opened on another folder keeps it otherwise
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
