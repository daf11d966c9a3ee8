"""The project's user errors: a bad input or a user's file, reported as one line (``error: ...``, exit 2).

:func:`neuron_as_deep_net.core.config.run` turns a :class:`UserError` escaping a script's ``main`` into one line
on stderr; every other exception is a programming error and keeps its traceback. The file errors also derive
from the built-in exception the code raised before (``ValueError``, ``FileNotFoundError``), so callers that
catch those still do.
"""

import pickle


class UserError(Exception):
    """A bad input of the user (a parameter, a combination of parameters, a file): the message says what and why."""


class DataFileError(UserError, ValueError):
    """A user's file that cannot be used: the message names the file and what is wrong with it (missing, empty,
    truncated, not the expected kind of file, written for another model, ...) and, where it helps, what to do."""

    def __init__(self, path, problem, hint=""):
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(f"{self.path}: {problem}" + (f"; {hint}" if hint else ""))


class MissingFileError(DataFileError, FileNotFoundError):
    """A file or folder the user named (or a default location) does not exist."""

    def __init__(self, path, what="file", hint=""):
        DataFileError.__init__(self, path, f"{what} not found", hint)


class MechanismError(UserError, RuntimeError):
    """NEURON mechanisms that cannot be compiled or loaded (the message holds the diagnosis and the log's tail)."""


def pickle_problem(error):
    """What an exception raised while unpickling a file says about the file, in words."""
    text = str(error)
    if isinstance(error, EOFError) or "truncated" in text or "Ran out of input" in text:
        return "truncated (the file ends early: an interrupted copy or write?)"
    return f"not a readable pickle ({type(error).__name__}: {text[:120]})"


#: the exceptions ``pickle.load`` raises on a file that is not a (complete) pickle; a readable pickle that
#: needs a module we lack raises ModuleNotFoundError / AttributeError, also a file problem here
PICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
                 ImportError, OverflowError)
