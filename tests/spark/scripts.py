"""Loading a generated Glue job script as a module, to call its functions as Glue's entry
point would, with the test's SparkSession and the emulator's Glue client."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType


def load_script(path: Path) -> ModuleType:
    """The job script at ``path``, imported under a unique name (dataclasses need the module
    in ``sys.modules`` while it runs)."""
    name = f"csvpipe_glue_job_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
