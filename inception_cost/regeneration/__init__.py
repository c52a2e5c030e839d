"""What ``inception-cost report`` runs: build the zoo, count it (forward and one training
step), audit the papers, analyse GoogLeNet's memory, and hand the typed results to the
presenters in :mod:`inception_cost.report`, which write reports/. ``check``'s training gate
counts its steps here too (:mod:`.training_gate`). It sits above the counting, the papers and
the presenters, and below the command line."""
