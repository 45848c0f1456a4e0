"""The library's shape: no function in ganjax/ longer than 60 lines (issue 31)."""

import ast
import pathlib

LIMIT = 60
LIBRARY = pathlib.Path(__file__).resolve().parents[1] / 'ganjax'


def function_lengths(root=LIBRARY):
  """[(lines, 'path:line name')] of every function and method under root."""
  rows = []
  for path in sorted(root.rglob('*.py')):
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        rows.append((node.end_lineno - node.lineno + 1,
                     f'{path.relative_to(root.parent)}:{node.lineno} {node.name}'))
  return rows


def test_no_function_in_the_library_is_longer_than_60_lines():
  rows = function_lengths()
  assert len(rows) > 300   # the walk found the library
  long = sorted((r for r in rows if r[0] > LIMIT), reverse=True)
  assert not long, f'split these (lines, where): {long}'
