"""Components: several root modules (and states) per environment, wired by their outputs.

``graph``: the edges between a stack's components (from their references), the cycle
check and the apply waves; ``wire``: render one environment's components, check every
reference against the producer's rendered outputs and render the remote-state blocks.
"""
