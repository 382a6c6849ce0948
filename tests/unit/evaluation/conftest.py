"""Makes `tests.stubs` importable when this folder runs on its own (the suite root does it otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
