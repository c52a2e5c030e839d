"""The training loss of one step, as ``count_training`` and ``memory(training=True)`` run
it: cross-entropy of the main output plus :data:`AUX_LOSS_WEIGHT` times the cross-entropy
of each auxiliary output. A fact of the training recipe, not of the model: the zoo builds
the auxiliary heads, the step decides what their loss weighs."""
from __future__ import annotations

AUX_LOSS_WEIGHT = 0.3
"""Weight of each auxiliary classifier's loss in the training loss (a plain number, no
unit; GoogLeNet, Szegedy et al. 2015, Sec. 5)."""
