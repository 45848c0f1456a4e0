"""The one exception type a user sees: a one-line message that says what to do."""


class GanjaxError(Exception):
  """A user-facing error; the CLI prints it as one line and exits with status 2."""
