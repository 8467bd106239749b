#!/usr/bin/env python
"""Download helper used by the demo and the extractor: resumable, bounded retries, checksums.

    python demo_utils.py URL DEST [--sha256 HEX] [--retries 3]
"""
from dialogpt.cli import run_main
from dialogpt.download import DownloadError, download, main

__all__ = ["download", "DownloadError", "main"]

if __name__ == "__main__":
    raise SystemExit(run_main(main))
