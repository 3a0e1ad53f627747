"""The paper's tables in miniature: rows x training seeds distilled and evaluated, claims decided from paired
intervals (``mcm reproduce``, ``make reproduce-toy``).

    config   the typed reproduction (rows, claims, quick mode) and its presets (presets/toy.yaml)
    keys     cache keys: resolved configs + content of inputs + code version
    runner   planning and executing runs as `mcm distill` / `mcm eval` subprocesses, side by side, resumable
    stats    Student-t intervals of paired differences and the verdicts
    results  results.json from the committed result files
    report   index.html

The reproduction drives the library through its CLI verbs; it imports no trainer code.
"""
