"""Commands that are more than a pipeline call: check/diff, bootstrap, init, list, schema.

Commands sit above :mod:`generator.pipeline`; nothing below imports them.
"""
