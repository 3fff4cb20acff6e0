"""tfgen: render per-environment YAML into verified, plain Terraform.

The package import is kept light on purpose (``tfgen --help`` must not import
Jinja or the HCL parser): ``generate`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "generate"]

if TYPE_CHECKING:
    from generator.pipeline import generate


def __getattr__(name: str) -> Any:
    if name == "generate":
        from generator.pipeline import generate

        return generate
    msg = f"module 'generator' has no attribute {name!r}"
    raise AttributeError(msg)
