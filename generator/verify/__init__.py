"""Parse every rendered file back and check the rules every output obeys (backend, terraform block).

Also the python-hcl2 boundary (:mod:`generator.verify.hclparse`) and the state-key guard
(:mod:`generator.verify.statekeys`).
"""
