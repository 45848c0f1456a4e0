"""The one exception type a user sees: a one-line message that says what to do."""

import errno
import os


class GanjaxError(Exception):
  """A user-facing error; the CLI prints it as one line and exits with status 2."""


def describe_os_error(e):
  """'No space left on device (ENOSPC)' for an OSError (or an errno int), else its text."""
  code = e if isinstance(e, int) else getattr(e, 'errno', None)
  if code in errno.errorcode:
    return f'{os.strerror(code)} ({errno.errorcode[code]})'
  return str(e)
