"""Atomic file writes, the one family every module uses: any file, pickles, JSON, Keras files and .npy arrays.

Every writer goes through :func:`atomic_write` (a temp file in the same folder, then a rename), except Keras
files, which Keras must write itself by name: :func:`atomic_keras_file` gives Keras a temp name with the
suffix it checks and renames that over the target.
"""

import os
import pickle
import tempfile
import uuid
from contextlib import contextmanager

import numpy as np

from .errors import PICKLE_ERRORS, DataFileError, MissingFileError, pickle_problem


def current_umask():
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path, mode="wb"):
    """Open a temp file beside ``path``; on success rename it over ``path`` (never a half-written file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_path, 0o666 & ~current_umask())
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def save_pickle(obj, path, protocol=2):
    """Pickle ``obj`` atomically (protocol 2 by default, like the original files)."""
    with atomic_write(path) as handle:
        pickle.dump(obj, handle, protocol=protocol)


def load_pickle(path, what="file"):
    """Load a pickle written by Python 3 or by the authors' Python 2 (latin1 fallback).

    A file that is missing, empty, truncated or not a pickle raises :class:`~.errors.DataFileError` (a user
    error) naming the file and what is wrong; ``what`` names the kind of file in the message.
    """
    if not os.path.isfile(path):
        raise MissingFileError(path, what)
    if os.path.getsize(path) == 0:
        raise DataFileError(path, f"the {what} is empty (0 bytes: an interrupted write?)")
    with open(path, "rb") as handle:
        try:
            try:
                return pickle.load(handle)
            except UnicodeDecodeError:
                handle.seek(0)
                return pickle.load(handle, encoding="latin1")
        except PICKLE_ERRORS as error:
            raise DataFileError(path, pickle_problem(error)) from error


def atomic_keras_file(write, path):
    """Call ``write(temp_path)`` with a temp name in the same folder and with the same suffix Keras checks
    (.keras, .h5, .weights.h5), then rename it over ``path``."""
    directory, base = os.path.split(os.path.abspath(path))
    suffix = ".weights.h5" if base.endswith(".weights.h5") else os.path.splitext(base)[1]
    temp_path = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        write(temp_path)
        os.replace(temp_path, path)
    finally:
        if os.path.exists(temp_path):
            os.remove(temp_path)


def write_json(path, payload):
    """JSON with indent=4, sort_keys=True, written atomically."""
    import json

    with atomic_write(path, "w") as handle:
        json.dump(payload, handle, indent=4, sort_keys=True, default=str)


def save_npy(path, array):
    """np.save atomically."""
    with atomic_write(path) as handle:
        np.save(handle, array, allow_pickle=False)
