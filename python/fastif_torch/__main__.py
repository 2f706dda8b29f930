"""python3 -m fastif_torch gradients|embeddings|predictions ... (see cli.py)."""
import sys

from .cli import main

sys.exit(main())
