"""``python -m chatpay.bench flows|ingest …``: the harness without the main ``chatpay`` CLI."""

from __future__ import annotations

import sys

from chatpay.bench.cli import main

sys.exit(main())
