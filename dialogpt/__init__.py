"""DialoGPT large-scale pretraining (LSP) toolkit.

Reddit extraction, token databases, distributed GPT-2 training, decoding with MMI reranking and
DSTC-7 evaluation. Importing the package is cheap: heavy libraries (torch, transformers) are
imported by the modules that need them, when they need them.
"""

__version__ = "0.1.0"
