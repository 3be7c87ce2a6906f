"""``python scripts/speed_options.py option=bf16_conv``, under the name that wrote
``results/throughput/conv_dtype.md`` (its command): the same options otherwise.

    python scripts/conv_dtype.py catch_seeds=evaluation pong_steps=40000
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "option=bf16_conv", *sys.argv[1:]]
    runpy.run_path(str(Path(__file__).with_name("speed_options.py")), run_name="__main__")
