"""``DecoderConfig``: the flags ``generate.py``, ``interact.py`` and ``serve.py`` share (models,
decoding, grounding), declared once and held by each entry point's config as a
``dialogpt.config.section``; and their parsing with ``--preset``.

``--preset NAME`` (``dialogpt.decoding.options.PRESETS``) sets several decoding flags at once: its
values become those flags' defaults, so flags given explicitly win;
:meth:`DecoderConfig.preset_note` says what it set and which of its values were overridden.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Sequence

from dialogpt.config import Config, flag, parse_config, section
from dialogpt.decoding.loading import DecoderSpec, Grounding
from dialogpt.decoding.options import FLAG_GROUP, PRESET_HELP, PRESETS, DecodingOptions, describe


@dataclass(frozen=True)
class DecoderConfig:
    """What a decoding front end is told about its ``Decoder``: the models (``DecoderSpec``),
    the decoding settings (``DecodingOptions``, perhaps from ``--preset``) and the grounding."""

    spec: DecoderSpec = section(DecoderSpec)
    preset: str | None = flag(None, PRESET_HELP, FLAG_GROUP, choices=sorted(PRESETS))
    options: DecodingOptions = section(DecodingOptions)
    grounding: Grounding = section(Grounding)

    def preset_note(self) -> str | None:
        """What ``--preset`` sets and which of its values explicit flags overrode (None without
        ``--preset``)."""
        if self.preset is None:
            return None
        preset = PRESETS[self.preset]
        overridden = {key: getattr(self.options, key) for key, value in preset.items()
                      if getattr(self.options, key) != value}
        message = f"--preset {self.preset} sets {describe(preset)}"
        if overridden:
            message += f"; overridden by your flags: {describe(overridden)}"
        return message

    def load(self):
        """The ``Decoder`` (``dialogpt.decoding.loading.load_decoder``)."""
        from dialogpt.decoding.loading import load_decoder

        return load_decoder(self.spec, self.options, self.preset, self.grounding)


def parse_with_preset(config_class: type[Config], parser: argparse.ArgumentParser,
                      argv: Sequence[str] | None = None) -> Config:
    """``dialogpt.config.parse_config`` with ``--preset``'s values as the defaults of its flags.

    Pre-parsing only ``--preset`` keeps every other flag's parsing (and its errors) in
    ``parser``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    probe.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="read first: its values become the other flags' defaults")
    name = probe.parse_known_args(argv)[0].preset
    if name is not None:
        parser.set_defaults(**PRESETS[name])
    return parse_config(config_class, parser, argv)
