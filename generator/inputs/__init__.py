"""Environment files: read (bounded), YAML with lines, layers, ``--set``, ``${env:}``, secrets.

Nothing here knows the stack: values leave this room layered and interpolated, with a
locator that names the file and line of every key, and are validated by :mod:`generator.engine`.
"""
