# Shared by the pipeline scripts: the model package to use (override with MODEL=...).
# shellcheck shell=bash
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The bundled presenter model replaces the fixture once it lands (issue: bundled presenter).
PRESENTER_MODEL=${MODEL:-$REPO_ROOT/models/fixtures/presenter}
# The bundled foley model replaces the fixture once it lands (issue: bundled foley).
FOLEY_MODEL=${MODEL:-$REPO_ROOT/models/fixtures/foley}
