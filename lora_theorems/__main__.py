"""``python -m lora_theorems`` is the ``lora-theorems`` command."""

import sys

from .cli import main

sys.exit(main())
