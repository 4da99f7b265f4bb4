"""The generator package stays free of Django."""

import subprocess
import sys


def test_importing_generator_does_not_import_django():
    code = (
        "import sys, generator, generator.api, generator.train, generator.sample\n"
        "assert 'django' not in sys.modules, 'django imported'\n"
        "assert 'ecgstudy' not in sys.modules, 'ecgstudy imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
