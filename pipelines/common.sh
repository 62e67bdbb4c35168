# Shared by the pipeline scripts: the model package to use (override with MODEL=...).
# shellcheck shell=bash
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The bundled presenter model replaces the fixture once it lands (issue: bundled presenter).
PRESENTER_MODEL=${MODEL:-$REPO_ROOT/models/fixtures/presenter}
# v2agen's model property: none (the bundled foley package, models/foley) unless MODEL is set.
# An array, because an empty `model=` would swallow the next property on a gst-launch line.
FOLEY_MODEL_PROP=(${MODEL:+"model=$MODEL"})
