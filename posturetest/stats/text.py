"""The statistics in words: a table per comparison, plain sentences that claim no more than
the p-values allow, the agreement and the order effect, as `posturetest stats` prints them."""

from __future__ import annotations

import textwrap
from typing import Any

from posturetest.domain import SCALES
from posturetest.stats.compute import MIN_SUBJECTS, RATING_WORDS, label, prefixed
from posturetest.stats.interval import CONFIDENCE

ALPHA = 0.05
"""Below this a p-value counts as a clear difference in the sentences."""


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _p(p: float | None) -> str:
    """'p = 0.041' or 'p < 0.001'; three decimals, so 0.049 never reads as 0.05."""
    if p is None:
        return "p not computable"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(
        text, 100, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
    )


def sentence(comparison: dict[str, Any]) -> str:
    """One plain sentence that claims no more than the p-values allow.

    A posture is named as the best only when Friedman's p is below ALPHA, and then only the
    pairwise differences that survive Holm's correction are said to hold.
    """
    test = comparison["test"]
    noun, best_words = RATING_WORDS[comparison["rating"]]
    n = comparison["n"]
    friedman = comparison["friedman"]
    opening = f"Under the {test} test"
    if n == 0:
        return f"{opening}, {noun} could not be compared: no subject has all three postures rated."
    if n == 1:
        return f"{opening}, {noun} could not be compared: only one subject has all three postures."
    if friedman["p"] is None:
        return (
            f"{opening}, {noun} could not be tested: every subject gave all three postures the "
            "same value, so there is no difference to find."
        )
    rough = f"; with fewer than {MIN_SUBJECTS} subjects this p is rough" if n < MIN_SUBJECTS else ""
    where = f"(Friedman {_p(friedman['p'])}, n = {n}{rough})"
    if friedman["p"] >= ALPHA:
        return f"{opening}, {noun} showed no clear difference between the postures {where}."
    means = {p: d["mean"] for p, d in comparison["postures"].items()}
    top = max(means.values())
    leaders = [p for p, m in means.items() if m == top]
    if len(leaders) == 1:
        claim = f"{opening}, the {leaders[0]} posture was {best_words} on average {where}"
    else:
        claim = f"{opening}, {noun} differed between the postures {where}"
    holding = [pair for pair in comparison["pairwise"] if _holds(pair)]
    failing = [pair for pair in comparison["pairwise"] if not _holds(pair)]
    if not holding:
        return (
            f"{claim}, but after Holm correction no single pair of postures differs clearly: "
            f"{_pairs(failing)}."
        )
    if not failing:
        return f"{claim}; after Holm correction every pair differs clearly: {_pairs(holding)}."
    verb = "does" if len(failing) == 1 else "do"
    return (
        f"{claim}; after Holm correction the difference{'s' if len(holding) > 1 else ''} "
        f"{_pairs(holding)} {'holds' if len(holding) == 1 else 'hold'}; "
        f"{_pairs(failing)} {verb} not."
    )


def _holds(pair: dict[str, Any]) -> bool:
    return pair["p_holm"] is not None and pair["p_holm"] < ALPHA


def _pairs(pairs: list[dict[str, Any]]) -> str:
    named = [
        f"{pair['a']} vs {pair['b']} "
        + (f"(Holm {_p(pair['p_holm'])})" if pair["p_holm"] is not None else "(not testable)")
        for pair in pairs
    ]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _comparison_text(comparison: dict[str, Any]) -> list[str]:
    test, rating = comparison["test"], comparison["rating"]
    scale = SCALES[rating]
    lines = [
        f"{label(test, rating).capitalize()} ({scale.minimum} = {scale.low_word}, "
        f"{scale.maximum} = {scale.high_word})",
        f"  {comparison['n']} subjects with all three postures rated; "
        f"{comparison['excluded']} left out (a posture missing)",
        f"  {'posture':<10} {'n':>5} {'median':>7} {'mean':>6}  {CONFIDENCE:.0%} CI",
    ]
    for posture, d in comparison["postures"].items():
        ci = (
            f"{_number(d['ci_low'])} to {_number(d['ci_high'])}" if d["ci_low"] is not None else "–"
        )
        lines.append(
            f"  {posture:<10} {d['n']:>5} {_number(d['median']):>7} {_number(d['mean']):>6}  {ci}"
        )
    f = comparison["friedman"]
    if f["statistic"] is None:
        lines.append("  Friedman: not computable")
    else:
        lines.append(
            f"  Friedman: chi² = {f['statistic']:.2f}, {_p(f['p'])}, "
            f"Kendall's W = {f['kendall_w']:.2f}"
        )
    lines.append("  Wilcoxon signed-rank, Holm-corrected:")
    for pair in comparison["pairwise"]:
        name = f"{pair['a']} vs {pair['b']}"
        if pair["p"] is None:
            lines.append(f"    {name:<22} not testable (no differences)")
        else:
            lines.append(
                f"    {name:<22} W = {pair['statistic']:<8.1f} {_p(pair['p']):<11}  "
                f"Holm {_p(pair['p_holm'])}"
            )
    lines += _wrap(sentence(comparison))
    if comparison["warning"]:
        lines += _wrap(f"Warning: {comparison['warning']}")
    return lines


def format_text(result: dict[str, Any]) -> str:
    """The result as a readable report: a table and a sentence per test and rating, the
    agreement between subject and tester, and ratings by position."""
    lines = [
        "Postures compared: one value per subject and posture (the mean of their rated trials).",
    ]
    shown = set()
    for comparison in result["comparisons"]:
        lines += ["", *_comparison_text(comparison)]
        if comparison["warning"]:
            shown.add(prefixed(comparison))
    agreement = result["agreement"]
    if result["comparisons"]:
        lines += [
            "",
            "Agreement between subject and tester",
            *_wrap(
                "Spearman rho between subject ease and tester stability over rated trials "
                "(1 = same order, 0 = unrelated; no p-value, as trials of one subject are not "
                "independent):"
            ),
        ]
        for row in [*agreement["by_test"], {"test": "both tests", **agreement["overall"]}]:
            lines.append(
                f"    {row['test']:<11} rho = {_number(row['rho']):>5}  ({row['n']:,} trials)"
            )
        lines.append("  Same posture ranked best by subject and tester:")
        for row in agreement["best_posture"]:
            if row["sessions"]:
                lines.append(
                    f"    {row['test']:<11} {row['same']:,} of {row['sessions']:,} sessions "
                    f"({row['share']:.0%})"
                )
            else:
                lines.append(f"    {row['test']:<11} no session has both rankings")
        lines += ["", *_order_text(result["order_effect"])]
    remaining = [w for w in result["warnings"] if w not in shown]
    if remaining:
        lines += ["", *(line for w in remaining for line in _wrap(f"Warning: {w}", ""))]
    return "\n".join(lines) + "\n"


def _order_text(order: dict[str, Any]) -> list[str]:
    positions = sorted({row["position"] for row in order["by_position"]})
    lines = [
        "Order effect: mean rating by the trial's position within its test (1 = first)",
        "  descriptive only; rho = Spearman over positions, slope = change per position",
        f"  {'test':<9} {'rating':<17}"
        + "".join(f"{p:>6}" for p in positions)
        + f"{'rho':>7}{'slope':>8}",
    ]
    means = {(r["test"], r["rating"], r["position"]): r["mean"] for r in order["by_position"]}
    for row in order["trend"]:
        cells = "".join(
            f"{_number(means.get((row['test'], row['rating'], p))):>6}" for p in positions
        )
        lines.append(
            f"  {row['test']:<9} {RATING_WORDS[row['rating']][0]:<17}{cells}"
            f"{_number(row['spearman_rho']):>7}{_number(row['slope'], 3):>8}"
        )
    return lines
