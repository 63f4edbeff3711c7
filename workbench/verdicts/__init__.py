"""The one decision layer: does a candidate pay off against its baseline, and how sure are we?

Every notebook follows the same four steps, one call each:

1. ``choice = choose_on_validation(validation_scores)``: candidates are chosen on **validation** only.
2. ``comparison = compare_predictions(y_test, predictions[choice], predictions[baseline], metric=...)``:
   the chosen one and the baseline are scored on **test**, paired by example and, with several
   training seeds (``{seed: predictions}``), by seed.
3. ``verdicts = family_verdicts(question, {choice: comparison, ...}, baseline=..., rule=..., costs=...)``
   (or ``make_verdict(...)`` for a single comparison): Holm's correction over the notebook's family
   of test-set comparisons, the answer in words, the ``summary.json["verdict"]`` dict.
4. ``answer_sentence(verdict)`` for the report index, ``findings_markdown(verdict)`` for "What this means".

The tests
---------
- **By example**: paired bootstrap over test examples (:func:`workbench.evaluation.paired_bootstrap_test`;
  with several seeds, the seed-averaged per-example correctness through
  :func:`workbench.evaluation.mean_difference_test`, or for macro F1 the seed-averaged F1 difference):
  percentile 95% interval, two-sided shifted-null p-value.
- **By seed** (two seeds or more): each seed's test metric, candidate minus baseline paired by seed:
  mean difference, t-based 95% interval, paired t-test (``scipy.stats.ttest_rel``).
- Both are reported (:func:`comparison_frame`); the one with the **wider interval** decides (one
  seed: the example-level test alone). ``se`` is the deciding test's standard error: the bootstrap
  interval's width / (2 × 1.96), or the t-test's ``sd / sqrt(n_seeds)``.

The answer rule (alpha = 0.05, delta = candidate - baseline in metric units, m = ``margin``, k = family size)
-------------------------------------------------------------------------------------------------------------
**Superiority** (``rule="superiority"``, the default; H0: delta = 0, two-sided p):

- Holm-adjusted p < 0.05 and delta > 0 → ``pays off``
- Holm-adjusted p < 0.05 and delta < 0 → ``costs accuracy``
- otherwise, the 95% interval lies within [-m, +m] → ``no detectable effect``
- otherwise → ``inconclusive``

**Non-inferiority** (``rule="non-inferiority"``, a cheaper variant that must keep the metric within m;
H0: delta <= -m, one-sided p read off the interval, see :func:`rule_p_value`):

- lower 95% bound >= -m, and when k > 1 also Holm-adjusted one-sided p <= 0.025 → ``pays off``
  (keeps the metric within the margin, at the cost the verdict records; never the point estimate.
  An interval inside ±m is this case: "no detectable effect" is a superiority answer only)
- upper 95% bound < -m → ``costs accuracy`` (worse than the margin allows)
- otherwise → ``inconclusive``

For k = 1 the two non-inferiority conditions coincide (the p-value is the interval inverted).
Every verdict records ``effect["min_detectable"]``, the smallest true |delta| this data and these
seeds would find at 80% power and two-sided alpha = 0.05: ``(z_0.975 + z_0.80) × se ≈ 2.80 × se``
(Bloom 1995, "Minimum detectable effects", *Evaluation Review* 19(5)); with a seed-level test the t
quantiles with ``n_seeds - 1`` degrees of freedom replace z. It is what an ``inconclusive`` means:
effects smaller than it could not have been seen.

>>> truth = [0, 1] * 200
>>> baseline = [0, 1] * 140 + [1, 0] * 60                      # 70% correct
>>> comparison = compare_predictions(truth, truth, baseline)   # the candidate reveals the labels
>>> verdict = make_verdict(question="Does the oracle pay off?", choice="oracle", baseline="tfidf",
...                        comparison=comparison)
>>> verdict["answer"], round(verdict["effect"]["delta"], 2)
('pays off', 0.3)
"""

from __future__ import annotations

from workbench.verdicts.comparisons import (
    COMPARISON_COLUMNS,
    compare_predictions,
    compare_seed_scores,
    comparison_frame,
)
from workbench.verdicts.findings import answer_sentence, findings_markdown
from workbench.verdicts.rules import (
    ALPHA,
    ANSWERS,
    RULES,
    VERDICT_KEYS,
    examples_for_non_inferiority,
    family_verdicts,
    holm,
    make_verdict,
    minimum_detectable_effect,
    rule_p_value,
)
from workbench.verdicts.selection import choose_on_validation

__all__ = ["ALPHA", "ANSWERS", "COMPARISON_COLUMNS", "RULES", "VERDICT_KEYS", "answer_sentence",
           "choose_on_validation", "compare_predictions", "compare_seed_scores", "comparison_frame",
           "examples_for_non_inferiority", "family_verdicts", "findings_markdown", "holm", "make_verdict",
           "minimum_detectable_effect", "rule_p_value"]
