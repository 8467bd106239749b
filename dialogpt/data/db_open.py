"""Opening a token DB of either kind: the one place that maps a manifest's ``kind`` to its reader.

:class:`dialogpt.data.db.TokenDB` reads causal DBs (DialoGPT) and
:class:`dialogpt.data.db_seq2seq.Seq2SeqDB` seq2seq DBs (GODEL); code that takes whatever DB it is
given opens it with :func:`open_db`.
"""

from __future__ import annotations

import os

from dialogpt.data.db import TokenDB, read_manifest
from dialogpt.data.db_seq2seq import Seq2SeqDB


def open_db(path: str | os.PathLike, verify: bool = True) -> TokenDB:
    """The DB at ``path``: a :class:`Seq2SeqDB` if its manifest says ``seq2seq``, else a causal
    :class:`TokenDB` (``UserError`` if missing, corrupt or of an unknown kind). ``verify``: check
    every shard's sha256 too (sizes are always checked)."""
    if read_manifest(path).get("kind", "causal") == "seq2seq":
        return Seq2SeqDB(path, verify=verify)
    return TokenDB(path, verify=verify)
