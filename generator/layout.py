"""The names of a project's folders and a stack's files: one place, no imports.

A project is ``environments/`` (one YAML file per environment, ``_*.yaml`` shared layers),
``templates/`` (the stack), ``out/`` (build output) and ``adopt/`` (what ``tfgen adopt``
decided, rendered into every later output). Only the standard library's ``re``.
"""

from __future__ import annotations

import re

ENVIRONMENTS_DIR = "environments"
TEMPLATES_DIR = "templates"  # the stack: templates, schema.json, stack.yaml
OUT_DIR = "out"
DEFAULTS_LAYER = "_defaults"
SCHEMA_FILE = "schema.json"
STACK_FILE = "stack.yaml"
TEMPLATE_SUFFIX = ".j2"
BACKEND_FILE = "backend.hcl"
ADOPT_DIR = "adopt"  # adopt/<env>.yaml: what `tfgen adopt` decided

# An environment's name: the file stem (and, with a suffix, the name of its ephemeral copy).
ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
