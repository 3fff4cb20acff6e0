"""out/<env>/: the atomic swap, its journal, the manifest, and safe reading of what is there."""
