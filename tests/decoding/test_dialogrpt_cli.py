"""generate.py / load_decoder with --ranker dialogrpt (alone and with --mmi_model)."""

from __future__ import annotations

import pytest

from test_dialogrpt import build_classifier, card_recipe_logit


@pytest.fixture(scope="module")
def classifier(tokenizer):
    return build_classifier(tokenizer)


def test_generate_cli_reranks_with_dialogrpt_alone_and_with_mmi(classifier, tokenizer,
                                                                 tiny_model_dir, tmp_path):
    """generate.py --ranker dialogrpt: the chosen response is the candidate the classifier
    scores highest by the model-card recipe (candidates recorded by the Decoder)."""
    from dialogpt.cli import run_main
    from dialogpt.decoding.generate_cli import main as generate_main
    from dialogpt.config import build_parser, parse_config
    from dialogpt.decoding.decoder_config import DecoderConfig

    classifier.save_pretrained(tmp_path / "rpt")
    tokenizer.save_pretrained(tmp_path / "rpt")
    flags = ["--model", str(tiny_model_dir), "--ranker", "dialogrpt", "--ranker_model",
             str(tmp_path / "rpt"), "--decoding", "sample", "--top_k", "20",
             "--num_candidates", "4", "--max_length", "6", "--seed", "3", "--device", "cpu"]
    parser = build_parser(DecoderConfig, "test", "")
    decoder = parse_config(DecoderConfig, parser, flags).load()
    (response,) = decoder.respond([["do you like tea ?"]])
    expected = [card_recipe_logit(classifier, tokenizer, "do you like tea ?", c)
                for c in response.candidates]
    assert response.scores == pytest.approx(expected, abs=1e-5)
    assert response.text == response.candidates[max(range(4), key=lambda i: expected[i])].strip()

    source = tmp_path / "in.tsv"
    source.write_text("do you like tea ?\tyes\nhi EOS how are you ?\tfine\n", encoding="utf-8")
    for extra in ([], ["--mmi_model", str(tiny_model_dir)]):
        out = tmp_path / f"out{len(extra)}.txt"
        assert run_main(generate_main, [*flags, *extra, "--input", str(source),
                                        "--output", str(out)]) == 0
        assert len(out.read_text(encoding="utf-8").splitlines()) == 2
