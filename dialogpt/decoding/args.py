"""The decoding entry points' namespace -> the library's configs (``generate.py``,
``interact.py`` and ``serve.py`` share their model, decoding and grounding flags)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields


def decoder_spec(args: argparse.Namespace):
    """The ``DecoderSpec`` of ``add_model_args`` (+ ``add_grounding_args``) flags; an entry
    point without the grounding flags gets the spec's defaults for them."""
    from dialogpt.decoding.loading import DecoderSpec

    return DecoderSpec(**{f.name: getattr(args, f.name) if f.default is MISSING
                          else getattr(args, f.name, f.default) for f in fields(DecoderSpec)})


def decoding_options(args: argparse.Namespace):
    """The ``DecodingOptions`` of ``add_decoding_args`` flags (validated: ``OptionError``)."""
    from dialogpt.decoding.options import DecodingOptions

    return DecodingOptions(**{f.name: getattr(args, f.name) for f in fields(DecodingOptions)})


def load_decoder_from_args(args: argparse.Namespace):
    """``load_decoder`` for an entry point's parsed model and decoding flags."""
    from dialogpt.decoding.loading import load_decoder

    return load_decoder(decoder_spec(args), decoding_options(args), getattr(args, "preset", None))
