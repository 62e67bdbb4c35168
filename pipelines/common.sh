# Shared by the pipeline scripts: the model package to use (override with MODEL=...).
# shellcheck shell=bash
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The elements' model property: none (their bundled packages, models/presenter and models/foley)
# unless MODEL is set. An array, because an empty `model=` would swallow the next property on a
# gst-launch line.
MODEL_PROP=(${MODEL:+"model=$MODEL"})
