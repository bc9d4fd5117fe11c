"""What the session report says, in plain words for the person who was tested: the facts of
the session, the ratings and rankings as table cells, which posture held best, and a clear note
that none of this is a diagnosis. Where each part goes on the page is `layout`'s job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from posturetest import __version__
from posturetest.domain import (
    POSITION_LABELS,
    POSTURES,
    SESSION_STATUS_LABELS,
    STOP_REASON_LABELS,
    SUBJECT_EASE,
    TESTER_STABILITY,
    TESTS,
    Outcome,
    Posture,
    Role,
    Session,
    SessionStatus,
    StressTest,
    StressTestSummary,
    Trial,
)
from posturetest.domain.scales import Scale
from posturetest.plots.session import REPORT_LABELS, SessionMeans
from posturetest.store import results

if TYPE_CHECKING:
    from posturetest.store import Store

TITLE = "Your posture stress test"
SUBTITLE = "A short report of one session, to take home"
RATINGS_HEADING = "Your ratings"
CHART_HEADING = "Mean ratings by posture"
RANKINGS_HEADING = "How you each ranked the postures"
SUMMARY_HEADING = "In short"

DISCLAIMER = (
    "Please note: this is not a diagnosis. These tests show how steadily you held three "
    "postures under a gentle push on one day, as you and your tester felt it. They cannot find "
    "or rule out any condition, and they do not replace a clinician. If you have pain, or "
    "questions about your back or your posture, please talk to a doctor or a physiotherapist."
)


UNFINISHED = {
    SessionStatus.IN_PROGRESS: "The session is not finished yet: this is how things stood so far.",
    SessionStatus.STOPPED: "The session was stopped early, so some postures may have fewer "
    "ratings than planned.",
}


@dataclass(frozen=True)
class PostureResult:
    """One posture of one test: both mean ratings, and how many trials were rated of those
    planned."""

    posture: Posture
    ease: float | None
    stability: float | None
    rated: int
    planned: int


def _posture_name(posture: Posture) -> str:
    """'the skeleton type', for the middle of a sentence."""
    return "the " + POSTURES[posture].label.lower()


def _names(postures: Sequence[Posture]) -> str:
    """'the muscle type', 'the muscle and skeleton types'."""
    words = [POSTURES[p].label.lower().removesuffix(" type") for p in postures]
    if len(words) == 1:
        return f"the {words[0]} type"
    return "the " + ", ".join(words[:-1]) + f" and {words[-1]} types"


def _top(values: dict[Posture, float | None]) -> list[Posture]:
    """The posture(s) with the highest mean (ties kept), none if nothing was rated."""
    known = {p: v for p, v in values.items() if v is not None}
    if not known:
        return []
    best = max(known.values())
    return [p for p, v in known.items() if abs(v - best) < 1e-9]


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".removesuffix(".0")


def when(started_at: str) -> str:
    """'24 November 2026, 09:15 UTC' from an ISO 8601 UTC time."""
    try:
        moment = datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return started_at
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def summary_sentence(
    test: StressTest, summary: StressTestSummary | None, means: list[PostureResult]
) -> str:
    """Which posture held best in one test, in plain words, from both rankings and the means."""
    label = TESTS[test].label
    if not any(m.rated for m in means):
        return f"{label}: no trial was rated, so there is nothing to compare."
    by_ease = _top({m.posture: m.ease for m in means})
    by_stability = _top({m.posture: m.stability for m in means})
    subject = summary.best_by_rank(Role.SUBJECT) if summary else None
    tester = summary.best_by_rank(Role.TESTER) if summary else None
    if subject is not None and tester is not None:
        if subject is tester:
            text = (
                f"{label}: {_posture_name(subject)} held best. You found it the easiest to keep, "
                "and your tester saw it as the most stable."
            )
        else:
            text = (
                f"{label}: you found {_posture_name(subject)} the easiest to keep, while your "
                f"tester saw {_posture_name(tester)} as the most stable."
            )
        if by_ease == by_stability == [subject] == [tester]:
            return text + " The ratings after each trial say the same."
        return (
            text
            + f" By the ratings, {_names(by_ease)} scored highest for ease and "
            + (f"{_names(by_stability)} for stability.")
        )
    rated = [m.posture for m in means if m.rated]
    if by_ease == by_stability == rated and len(rated) > 1:
        return (
            f"{label}: {_names(rated)} got the same ratings, so by the numbers none held "
            "better than the others."
        )
    if by_ease == by_stability:
        return (
            f"{label}: by the ratings, {_names(by_ease)} held best: the easiest for you and "
            "the most stable for your tester."
        )
    return (
        f"{label}: by the ratings, {_names(by_ease)} felt the easiest to you, and "
        f"{_names(by_stability)} looked the most stable to your tester."
    )


def session_results(
    store: Store, session_id: str, trials: Sequence[Trial]
) -> tuple[SessionMeans, dict[StressTest, list[PostureResult]]]:
    """The session's means as the chart reads them, and per planned test its postures."""
    rows = results.session_posture_means(store, session_id)
    means = {(StressTest(t), Posture(p)): (e, s, n) for t, p, e, s, n in rows}
    planned: dict[tuple[StressTest, Posture], int] = {}
    for trial in trials:
        planned[(trial.test, trial.posture)] = planned.get((trial.test, trial.posture), 0) + 1
    tests = [t for t in StressTest if any(k[0] is t for k in planned)]
    by_test = {
        test: [
            PostureResult(p, *means.get((test, p), (None, None, 0)), planned.get((test, p), 0))
            for p in Posture
        ]
        for test in tests
    }
    return list(rows), by_test


def stopped_note(trials: Sequence[Trial]) -> str:
    """Which trials were stopped, and that this is fine; empty if none was."""
    stopped = [t for t in trials if t.outcome is Outcome.STOPPED]
    if not stopped:
        return ""
    items = [
        f"{TESTS[t.test].label.lower()}, {POSTURES[t.posture].label.lower()}"
        + (f" ({STOP_REASON_LABELS[t.stop_reason].lower()})" if t.stop_reason else "")
        for t in stopped
    ]
    trials_word = "trial was" if len(stopped) == 1 else "trials were"
    return f"{len(stopped)} {trials_word} stopped, and that is fine: " + "; ".join(items) + "."


def session_facts(session: Session) -> list[tuple[str, str]]:
    """Who, when and how: the report's 'label value' pairs."""
    tests = [TESTS[t].label.removesuffix(" test").lower() for t in session.tests]
    return [
        ("Subject", session.subject),
        ("Tester", session.tester or "not recorded"),
        ("Date", when(session.started_at)),
        ("Position", POSITION_LABELS[session.position]),
        ("Tests", (" and ".join(tests) + (" test" if len(tests) == 1 else " tests")).capitalize()),
        ("Session", SESSION_STATUS_LABELS[session.status]),
    ]


def footer(session: Session) -> str:
    return (
        f"posturetest {__version__} · protocol {session.protocol_version} · "
        f"session {session.session_id}"
    )


def pdf_metadata(session: Session) -> dict[str, str]:
    return {
        "Title": f"Posture stress test: {session.subject}, {session.started_at[:10]}",
        "Subject": "Session report (not a diagnosis)",
    }


RATINGS_HEADER = [
    "Test",
    "Posture",
    REPORT_LABELS[SUBJECT_EASE.name],
    REPORT_LABELS[TESTER_STABILITY.name],
    "Trials rated",
]


def ratings_rows(by_test: dict[StressTest, list[PostureResult]]) -> list[tuple[Posture, list[str]]]:
    """The ratings table's cells, row by row, with the posture each row is about."""
    return [
        (
            r.posture,
            [
                TESTS[test].label if i == 0 else "",
                POSTURES[r.posture].label,
                _number(r.ease),
                _number(r.stability),
                f"{r.rated} of {r.planned}",
            ],
        )
        for test, rows in by_test.items()
        for i, r in enumerate(rows)
    ]


def _ends(scale: Scale) -> str:
    return f"{scale.minimum} = {scale.low_word} and {scale.maximum} = {scale.high_word}"


RATINGS_NOTE = (
    f"Each rating is {min(SUBJECT_EASE.minimum, TESTER_STABILITY.minimum)} to "
    f"{max(SUBJECT_EASE.maximum, TESTER_STABILITY.maximum)}, the mean of the rated trials. "
    f"For you, {_ends(SUBJECT_EASE)}; for your tester, {_ends(TESTER_STABILITY)}."
)
"""Under the ratings table: what the numbers mean, in the scales' own words."""

RANK_ROLES = (Role.SUBJECT, Role.TESTER)
RANKINGS_HEADER = ["Test", "You: easiest first", "Tester: most stable first", "Same best?"]


def rankings_rows(tests: list[tuple[StressTest, StressTestSummary | None]]) -> list[list[str]]:
    """The rankings table's cells: both orders per test, and whether they agree on the best."""
    cells = []
    for test, summary in tests:
        orders = [summary.rankings.get(role) if summary else None for role in RANK_ROLES]
        agree = summary.agree_on_best if summary else None
        cells.append(
            [
                TESTS[test].label,
                *(_ranked(order) for order in orders),
                "–" if agree is None else ("yes" if agree else "no"),
            ]
        )
    return cells


def _ranked(order: tuple[Posture, ...] | None) -> str:
    if not order:
        return "not ranked"
    return "  ".join(
        f"{rank} {POSTURES[p].label.removesuffix(' type')}" for rank, p in enumerate(order, 1)
    )
