"""DSTC-7 evaluation: the official scorer's metrics, reproduced without Perl.

* :mod:`~dialogpt.evaluation.inputs`: references, keys and hypotheses (errors name file and line);
* :mod:`~dialogpt.evaluation.cleaning`: the official ``-c`` text cleaning;
* :mod:`~dialogpt.evaluation.mteval`: NIST and BLEU as ``mteval-v14c.pl`` computes them;
* :mod:`~dialogpt.evaluation.diversity`: entropy, distinct-n, average length;
* :mod:`~dialogpt.evaluation.meteor`: METEOR 1.5 through the official jar;
* :mod:`~dialogpt.evaluation.scoring`: one system's metrics, reference work shared by systems;
* :mod:`~dialogpt.evaluation.report`: tables and reports;
* :mod:`~dialogpt.evaluation.eval_config`: ``EvalConfig``, the flags of ``batch_eval.py``;
* :mod:`~dialogpt.evaluation.batch_eval`: the ``batch_eval.py`` entry point and
  ``evaluate(EvalConfig) -> dict``, the same scoring for programs;
* :mod:`~dialogpt.evaluation.dstc_data`: DSTC-7 data helpers behind ``dstc/``.
"""
