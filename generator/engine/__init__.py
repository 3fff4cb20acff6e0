"""The stack and its render: core schema, formats, schema.json, stack.yaml, validation, Jinja.

A loaded :class:`generator.engine.stack.Stack` is the only way in: validation and rendering
take it and a validated environment, never a folder to re-derive.
"""
