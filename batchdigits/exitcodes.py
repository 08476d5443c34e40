"""The exit codes of every command (also in ``--help`` and README), importing nothing.

====  =================================================================
 0    every file was classified (ok, low_confidence, blank or reviewed)
 1    the run completed, but some files could not be read (error rows)
 2    unusable arguments, unreadable folder, unwritable output, bad model,
      a lock file that is a link/folder/FIFO, a file the system refuses,
      a dask cluster that cannot be used (see :class:`Unusable`)
 70   internal error (a bug)
 75   another run is writing the same output (EX_TEMPFAIL); try later
 130  interrupted (Ctrl-C or SIGTERM); the previous CSV is left as it was
 141  standard output was closed by its reader (``| head``); stopped quietly
====  =================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FILE_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of standard output went away (| head)


class Unusable(Exception):
    """Something outside the program stops a command (a lock file planted as a link, a
    cluster that cannot be reached): ``str(err)`` is one line for people; exit 2."""
