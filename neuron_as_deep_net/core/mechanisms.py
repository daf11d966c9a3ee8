"""Compile (once, cached) and load the NEURON mechanisms of the L5PC model and of any other cell model.

`load_mechanisms()` is the only place in the project that runs `nrnivmodl`. It copies the .mod files into
`L5PC_NEURON_simulation/.mechanism_cache/<hash>/`, where <hash> covers every .mod file's name and contents
(plus the NEURON version and machine), compiles them there on first use, and loads the library once per
process. A changed .mod file gives a new hash, hence a rebuild. Concurrent first uses by several processes
are serialised by a file lock, and every build happens in a temporary folder that is renamed into place only
when complete, so a crashed or interrupted build never leaves a half-built cache entry behind.

`build_coreneuron_library()` compiles the same .mod files for CoreNEURON (``--solver coreneuron``) into a
cache entry of its own, ``coreneuron-<hash>``, the same way.

The mechanisms themselves are specified in /work/shared/spec/l5pc_mechanisms.md.
"""

import contextlib
import ctypes.util
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from .errors import MechanismError

try:
    import fcntl
except ImportError:  # not POSIX: rely on the atomic rename alone
    fcntl = None

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODS_DIR = PROJECT_DIR / "L5PC_NEURON_simulation" / "mods"
CACHE_DIR = PROJECT_DIR / "L5PC_NEURON_simulation" / ".mechanism_cache"
HASH_LENGTH = 16  # hex digits of the sha256 that names a cache entry
LOG_TAIL_LINES = 30  # lines of the nrnivmodl output quoted in an error
COMPLETE_MARKER = "BUILD_COMPLETE"
COMPILER_FIX = "install gcc/g++ (Debian/Ubuntu: apt-get install build-essential) or set CXX"

_MECHANISM_NAME = re.compile(r"^\s*(?:SUFFIX|POINT_PROCESS|ARTIFICIAL_CELL)\s+(\w+)", re.MULTILINE)
_COMMENT_BLOCK = re.compile(r"^\s*COMMENT\b.*?^\s*ENDCOMMENT\b", re.MULTILINE | re.DOTALL)
_COMPILER_MISSING = re.compile(
    r"(?:c\+\+|g\+\+|gcc|clang\+*|\bcc)'?:?\s*(?:command not found|not found|No such file or directory)|"
    r"No such file or directory: '(?:c\+\+|g\+\+|gcc|clang\+*|cc)'", re.IGNORECASE)
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

# CoreNEURON build (build_coreneuron_library): the kernels are `omp simd` loops; declaring exp a SIMD function
# lets GCC call glibc's vector exp (libmvec) there, which halves the cost of a step of the L5PC
CORENEURON_SIMD_HEADER = "simd_exp.h"
CORENEURON_SIMD_HEADER_TEXT = """// mechanisms.build_coreneuron_library: exp as an OpenMP SIMD function
#pragma once
#include <math.h>
#if defined(__cplusplus) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
extern "C" {
__attribute__((__simd__("notinbranch"))) double exp(double) noexcept;
}
#endif
"""
CORENEURON_SIMD_FLAGS = "-O3 -march=native -fno-math-errno"

_loaded_calls = set()  # (mods_dir, extra files) of the calls already served in this process
_registered_by_us = {}  # mechanism name -> sha256 of the .mod file this process loaded it from


def load_mechanisms(mods_dir=MODS_DIR, extra_mod_files=()) -> None:
    """Compile (first use only, cached by content hash) and load mods_dir/*.mod plus extra_mod_files.

    Idempotent: a mechanism already registered in NEURON (by an earlier call, a `special` binary or
    NRN_NMODL_PATH) is skipped, and only the missing ones are compiled and loaded. Raises MechanismError (a
    RuntimeError and a user error) with a one-line diagnosis (and the tail of the compiler log) if nrnivmodl,
    make or a C++ compiler is missing or the build fails, and ValueError for bad arguments.
    """
    mods_dir = Path(mods_dir).resolve()
    extra_mod_files = tuple(Path(p).resolve() for p in extra_mod_files)
    call_key = (mods_dir, extra_mod_files)
    if call_key in _loaded_calls:
        return

    mod_files = _collect_mod_files(mods_dir, extra_mod_files)
    names = {path: _mechanism_name(path) for path in mod_files}
    repeated = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if repeated:
        raise ValueError(f"mechanism name(s) {repeated} declared by more than one .mod file")
    digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in mod_files}

    from neuron import h

    missing = []
    for path in mod_files:
        name = names[path]
        if name in _registered_by_us:
            if _registered_by_us[name] != digests[path]:
                raise RuntimeError(
                    f"mechanism {name} is already loaded from a different {name}.mod; NEURON cannot "
                    "replace a mechanism in a running process, so start a new Python process")
        elif not hasattr(h, name):
            missing.append(path)

    if missing:
        cache_dir = CACHE_DIR / _build_hash(missing)
        _build(missing, cache_dir)
        _load_library(cache_dir)
        for path in missing:
            if not hasattr(h, names[path]):
                raise MechanismError(f"loaded {cache_dir} but {names[path]} is still unknown to NEURON")
            _registered_by_us[names[path]] = digests[path]
    _loaded_calls.add(call_key)


def build_coreneuron_library(mod_files):
    """Compile mod_files for CoreNEURON (first use only, cached by content hash); the libcorenrnmech path.

    A separate cache entry, ``coreneuron-<hash>``, built with ``nrnivmodl -coreneuron`` from the same .mod
    files that NEURON loads (its NEURON-side library is not used: the one of :func:`load_mechanisms` has the
    same generated code). On Linux x86-64 with glibc's libmvec the kernels are compiled for this CPU with a
    vectorised exp (``CORENEURON_SIMD_FLAGS``): exp agrees with the scalar one to a few ulp, so CoreNEURON
    results differ from NEURON's in the last bits; the hash then covers the CPU's feature flags too.
    """
    mod_files = sorted({Path(p).resolve() for p in mod_files}, key=lambda p: p.name)
    if not mod_files:
        raise ValueError("no .mod files to build for CoreNEURON")
    args, support_files, variant = ["-coreneuron"], {}, "coreneuron"
    if _simd_exp_supported():
        args += ["-incflags", f"{CORENEURON_SIMD_FLAGS} -include {{build_dir}}/{CORENEURON_SIMD_HEADER}",
                 "-loadflags", "-lmvec"]
        support_files = {CORENEURON_SIMD_HEADER: CORENEURON_SIMD_HEADER_TEXT}
        variant = f"coreneuron {args} {CORENEURON_SIMD_HEADER_TEXT} cpu {_cpu_flags()}"
    cache_dir = CACHE_DIR / f"coreneuron-{_build_hash(mod_files, variant)}"
    _build(mod_files, cache_dir, args, support_files, _coreneuron_library_path)
    return _coreneuron_library_path(cache_dir)


def _simd_exp_supported():
    """Linux x86-64 with libmvec, and a cache path without spaces (the include flag is not quoted)."""
    return (platform.system() == "Linux" and platform.machine() == "x86_64"
            and ctypes.util.find_library("mvec") is not None and " " not in str(CACHE_DIR))


def _cpu_flags():
    """The CPU feature flags (/proc/cpuinfo), for the hash of a -march=native build."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor()


def _coreneuron_library_path(build_dir):
    """The CoreNEURON mechanism library under build_dir (<arch>/libcorenrnmech.so or similar), or None."""
    found = sorted(build_dir.glob("*/libcorenrnmech.*"))
    return found[0] if found else None


def _collect_mod_files(mods_dir, extra_mod_files):
    """Sorted .mod files of mods_dir followed by the extra files; checks existence and name clashes."""
    if not mods_dir.is_dir():
        raise ValueError(f"mechanism folder {mods_dir} does not exist")
    mod_files = sorted(mods_dir.glob("*.mod"))
    if not mod_files and not extra_mod_files:
        raise ValueError(f"no .mod files in {mods_dir}")
    for path in extra_mod_files:
        if path.suffix != ".mod" or not path.is_file():
            raise ValueError(f"extra mechanism file {path} is not an existing .mod file")
    all_files = mod_files + [p for p in extra_mod_files if p not in mod_files]
    basenames = [p.name for p in all_files]
    clashes = sorted({n for n in basenames if basenames.count(n) > 1})
    if clashes:
        raise ValueError(f"several .mod files share the file name(s) {clashes}; one would overwrite another")
    return all_files


def _mechanism_name(path):
    """The SUFFIX / POINT_PROCESS / ARTIFICIAL_CELL name declared in a .mod file."""
    text = path.read_text(errors="replace")
    text = _COMMENT_BLOCK.sub("", text)
    text = "\n".join(line.split(":", 1)[0].split("?", 1)[0] for line in text.splitlines())
    found = _MECHANISM_NAME.findall(text)
    if len(found) != 1:
        raise ValueError(f"{path}: expected one SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL name, found {found}")
    return found[0]


def _build_hash(mod_files, variant=""):
    """First HASH_LENGTH hex digits of a sha256 over file names and contents, NEURON version and machine
    (and ``variant``, a description of any other build options: see :func:`build_coreneuron_library`)."""
    import neuron

    sha = hashlib.sha256()
    sha.update(f"neuron {neuron.__version__} {platform.machine()}\0".encode())
    if variant:
        sha.update(f"variant {variant}\0".encode())
    for path in sorted(mod_files, key=lambda p: p.name):
        sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:HASH_LENGTH]


def _library_path(build_dir):
    """The compiled mechanism library under build_dir (<arch>/libnrnmech.so or similar), or None."""
    for pattern in ("*/libnrnmech.*", "*/.libs/libnrnmech.*", "nrnmech.dll"):
        found = sorted(build_dir.glob(pattern))
        if found:
            return found[0]
    return None


@contextlib.contextmanager
def _file_lock(lock_path):
    """Exclusive advisory lock on lock_path for the duration of the block (no-op without fcntl)."""
    with open(lock_path, "a") as lock_file:
        if fcntl is not None:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def _build(mod_files, cache_dir, nrnivmodl_args=(), support_files=None, library_path=None):
    """Compile mod_files into cache_dir unless a complete build is already there.

    ``nrnivmodl_args`` go before the (implicit) mod folder; {build_dir} in them is replaced by the build
    folder. ``support_files`` ({name: text}) are written into the build folder first. ``library_path``
    (default :func:`_library_path`) finds the library whose presence marks a complete build.
    """
    library_path = library_path or _library_path
    if (cache_dir / COMPLETE_MARKER).is_file() and library_path(cache_dir) is not None:
        return
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(cache_dir.parent / f"{cache_dir.name}.lock"):
        if (cache_dir / COMPLETE_MARKER).is_file() and library_path(cache_dir) is not None:
            return  # another process finished the build while we waited for the lock
        nrnivmodl = _find_nrnivmodl()
        env = _build_environment()
        print(f"Compiling NEURON mechanisms into {cache_dir} (first use only)", flush=True)
        build_dir = Path(tempfile.mkdtemp(prefix=f".build-{cache_dir.name}-", dir=cache_dir.parent))
        try:
            for path in mod_files:
                shutil.copyfile(path, build_dir / path.name)
            for name, text in (support_files or {}).items():
                (build_dir / name).write_text(text)
            args = [arg.replace("{build_dir}", str(build_dir)) for arg in nrnivmodl_args]
            result = subprocess.run([nrnivmodl, *args], cwd=build_dir, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace")
            (build_dir / "nrnivmodl.log").write_text(result.stdout)
            if result.returncode != 0 or library_path(build_dir) is None:
                raise MechanismError(_failure_message(result, cache_dir))
            (build_dir / COMPLETE_MARKER).write_text("".join(f"{p}\n" for p in mod_files))
            if cache_dir.exists():  # a stale entry without the marker (cannot normally happen)
                shutil.rmtree(cache_dir)
            build_dir.chmod(0o755)  # mkdtemp creates it private
            os.rename(build_dir, cache_dir)
        finally:
            if build_dir.exists():
                shutil.rmtree(build_dir, ignore_errors=True)


def _find_nrnivmodl():
    """nrnivmodl next to the running Python (venv / wheel install) first, then on PATH."""
    candidate = Path(sys.executable).parent / "nrnivmodl"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("nrnivmodl")
    if found is None:
        raise MechanismError("nrnivmodl not found next to the Python interpreter or on PATH; "
                           "install NEURON into this environment (pip install neuron)")
    return found


def _build_environment():
    """Environment for nrnivmodl; checks that make and a C++ compiler exist (MechanismError if not)."""
    if shutil.which("make") is None:
        raise MechanismError("nrnivmodl failed: 'make' not found; install make "
                           "(Debian/Ubuntu: apt-get install build-essential)")
    env = dict(os.environ)
    # a running NEURON sets NMODLHOME to its share/nrn, where nmodl (the CoreNEURON build's translator) does not
    # find nrnunits.lib; without it the nrnivmodl wrapper sets the right one
    env.pop("NMODLHOME", None)
    # nrnivmodl uses $CXX, else the compiler Python was built with; fall back to any compiler on PATH
    configured = env.get("CXX") or sysconfig.get_config_var("CXX") or ""
    configured = shlex.split(configured)[0] if configured.strip() else ""
    if configured and shutil.which(configured):
        return env
    if "CXX" in env:
        raise MechanismError(f"nrnivmodl failed: C++ compiler CXX={env['CXX']!r} not found; {COMPILER_FIX}")
    for cxx, cc in (("g++", "gcc"), ("c++", "cc"), ("clang++", "clang")):
        if shutil.which(cxx):
            env["CXX"] = cxx
            if "CC" not in env and shutil.which(cc):
                env["CC"] = cc
            return env
    raise MechanismError(f"nrnivmodl failed: no C/C++ compiler found; {COMPILER_FIX}")


def _failure_message(result, cache_dir):
    """One diagnostic line, then the tail of the nrnivmodl output; the full log is kept next to the cache."""
    log_path = cache_dir.parent / f"{cache_dir.name}.failed.log"
    log_path.write_text(result.stdout)
    if _COMPILER_MISSING.search(result.stdout):
        headline = f"nrnivmodl failed: no C/C++ compiler found; {COMPILER_FIX}"
    elif result.returncode != 0:
        headline = (f"nrnivmodl failed with exit status {result.returncode}; fix the .mod error shown below "
                    f"(full log: {log_path})")
    else:
        headline = f"nrnivmodl reported success but produced no mechanism library (full log: {log_path})"
    output = _ANSI_ESCAPE.sub("", result.stdout)
    output = output.split("Traceback (most recent call last):")[0]  # drop the nrnivmodl wrapper's traceback
    tail = "\n".join(output.rstrip().splitlines()[-LOG_TAIL_LINES:])
    return f"{headline}\n--- last {LOG_TAIL_LINES} lines of the nrnivmodl output ---\n{tail}"


def _load_library(cache_dir):
    """Load the compiled library of cache_dir into NEURON (neuron.load_mechanisms skips a repeated path)."""
    import neuron

    if _library_path(cache_dir) is None:
        raise MechanismError(f"no compiled mechanism library in {cache_dir}; delete that folder and retry")
    if not neuron.load_mechanisms(str(cache_dir), warn_if_already_loaded=False):
        raise MechanismError(f"NEURON could not load the mechanism library in {cache_dir}")
