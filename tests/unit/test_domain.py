"""Unit tests of the pure protocol: plans, scales, safety, subject codes and the session flow."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from posturetest.domain import (
    DISCOMFORT,
    FIXED_ORDER,
    POSTURE_ORDERS,
    REQUIRED_SCALES,
    SAFETY_KEYS,
    SCALES,
    SUBJECT_EASE,
    TESTER_EFFORT,
    TESTER_STABILITY,
    FinishStep,
    OrderScheme,
    Outcome,
    PlanError,
    Position,
    Posture,
    Ranking,
    RankingStep,
    Role,
    SafetyStep,
    Session,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
    SummaryStep,
    Trial,
    TrialStep,
    is_valid_subject_code,
    may_proceed,
    next_step,
    plan_session,
    progress,
    scales_for_session,
    summarise,
)

BOTH = (StressTest.VERTICAL, StressTest.ANTERIOR)
L, M, S = Posture.LIGAMENT, Posture.MUSCLE, Posture.SKELETON
V, A = StressTest.VERTICAL, StressTest.ANTERIOR


def posture_order_by_test(plan: list) -> dict[StressTest, tuple[Posture, ...]]:
    """The posture order of the first repetition of each test, read off a plan."""
    orders: dict[StressTest, list[Posture]] = {}
    for p in plan:
        if p.rep == 1:
            orders.setdefault(p.test, []).append(p.posture)
    return {t: tuple(o) for t, o in orders.items()}


def order_of_tests(plan: list) -> tuple[StressTest, ...]:
    seen: list[StressTest] = []
    for p in plan:
        if p.test not in seen:
            seen.append(p.test)
    return tuple(seen)


# -- plan: balanced ---------------------------------------------------------------------------


def test_there_are_six_distinct_posture_orders() -> None:
    assert len(POSTURE_ORDERS) == 6
    assert set(POSTURE_ORDERS) == set(itertools.permutations(Posture))


@pytest.mark.parametrize("start", [0, 1, 5, 6, 11, 100])
def test_balanced_six_consecutive_subjects_use_every_posture_order_once(start: int) -> None:
    used = []
    for index in range(start, start + 6):
        plan = plan_session(
            tests=BOTH, repetitions=1, scheme=OrderScheme.BALANCED, enrolment_index=index
        )
        orders = posture_order_by_test(plan)
        # one subject keeps the same posture order in both tests
        assert orders[V] == orders[A]
        used.append(orders[V])
    assert sorted(used) == sorted(itertools.permutations(Posture))


@pytest.mark.parametrize("start", [0, 3, 12, 17])
def test_balanced_twelve_subjects_meet_every_posture_and_test_order_pair_once(
    start: int,
) -> None:
    pairs = []
    for index in range(start, start + 12):
        plan = plan_session(
            tests=BOTH, repetitions=2, scheme=OrderScheme.BALANCED, enrolment_index=index
        )
        pairs.append((posture_order_by_test(plan)[V], order_of_tests(plan)))
    expected = {(p, t) for p in itertools.permutations(Posture) for t in (BOTH, BOTH[::-1])}
    assert len(pairs) == 12
    assert set(pairs) == expected


def test_balanced_is_deterministic() -> None:
    a = plan_session(tests=BOTH, repetitions=2, scheme=OrderScheme.BALANCED, enrolment_index=4)
    b = plan_session(tests=BOTH, repetitions=2, scheme=OrderScheme.BALANCED, enrolment_index=4)
    assert a == b


def test_balanced_every_repetition_uses_the_same_posture_order() -> None:
    plan = plan_session(tests=BOTH, repetitions=3, scheme=OrderScheme.BALANCED, enrolment_index=2)
    for test in BOTH:
        by_rep: dict[int, list[Posture]] = {}
        for p in plan:
            if p.test is test:
                by_rep.setdefault(p.rep, []).append(p.posture)
        assert set(by_rep) == {1, 2, 3}
        assert by_rep[1] == by_rep[2] == by_rep[3]
        assert sorted(by_rep[1]) == sorted(Posture)


# -- plan: random and fixed -------------------------------------------------------------------


def test_random_same_seed_gives_same_plan() -> None:
    a = plan_session(tests=BOTH, repetitions=2, scheme=OrderScheme.RANDOM, seed=12345)
    b = plan_session(tests=BOTH, repetitions=2, scheme=OrderScheme.RANDOM, seed=12345)
    assert a == b


def test_random_plan_depends_on_the_seed_not_on_the_enrolment_index() -> None:
    plans = {
        tuple(plan_session(tests=BOTH, repetitions=1, scheme=OrderScheme.RANDOM, seed=seed))
        for seed in range(30)
    }
    assert len(plans) > 1
    a = plan_session(
        tests=BOTH, repetitions=1, scheme=OrderScheme.RANDOM, seed=7, enrolment_index=0
    )
    b = plan_session(
        tests=BOTH, repetitions=1, scheme=OrderScheme.RANDOM, seed=7, enrolment_index=9
    )
    assert a == b


def test_random_plan_uses_each_posture_once_per_repetition() -> None:
    plan = plan_session(tests=BOTH, repetitions=3, scheme=OrderScheme.RANDOM, seed=99)
    assert len(plan) == 18
    for test in BOTH:
        for rep in (1, 2, 3):
            postures = [p.posture for p in plan if p.test is test and p.rep == rep]
            assert sorted(postures) == sorted(Posture)


def test_random_needs_a_seed() -> None:
    with pytest.raises(PlanError, match="seed"):
        plan_session(tests=BOTH, repetitions=1, scheme=OrderScheme.RANDOM)


def test_fixed_uses_the_fixed_order_and_the_chosen_test_order() -> None:
    plan = plan_session(tests=(A, V), repetitions=1, scheme=OrderScheme.FIXED)
    assert [(p.test, p.posture) for p in plan] == [(A, L), (A, M), (A, S), (V, L), (V, M), (V, S)]
    assert FIXED_ORDER == (L, M, S)


def test_fixed_with_a_custom_order() -> None:
    plan = plan_session(tests=(V,), repetitions=2, scheme=OrderScheme.FIXED, fixed_order=(S, L, M))
    assert [p.posture for p in plan] == [S, L, M, S, L, M]


@pytest.mark.parametrize("order", [(L, L, M), (L, M), (L, M, S, S)])
def test_fixed_order_must_name_each_posture_once(order: tuple[Posture, ...]) -> None:
    with pytest.raises(PlanError):
        plan_session(tests=(V,), repetitions=1, scheme=OrderScheme.FIXED, fixed_order=order)


# -- plan: shape and errors -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", list(OrderScheme))
@pytest.mark.parametrize("repetitions", [1, 2, 3])
@pytest.mark.parametrize("tests", [(V,), (A,), BOTH, (A, V)])
def test_plan_shape(scheme: OrderScheme, repetitions: int, tests: tuple[StressTest, ...]) -> None:
    plan = plan_session(
        tests=tests, repetitions=repetitions, scheme=scheme, enrolment_index=7, seed=3
    )
    assert len(plan) == 3 * repetitions * len(tests)
    assert [p.seq for p in plan] == list(range(1, len(plan) + 1))
    # all trials of a test come before the next test: each test is one contiguous block
    blocks = [t for t, _ in itertools.groupby(p.test for p in plan)]
    assert len(blocks) == len(tests)
    assert set(blocks) == set(tests)
    for test in tests:
        block = [p for p in plan if p.test is test]
        assert len(block) == 3 * repetitions
        assert [p.rep for p in block] == [r for r in range(1, repetitions + 1) for _ in range(3)]
        # repetitions run in order within the block
        for rep in range(1, repetitions + 1):
            assert sorted(p.posture for p in block if p.rep == rep) == sorted(Posture)


@pytest.mark.parametrize("repetitions", [0, 4, -1])
def test_repetitions_out_of_range_are_refused(repetitions: int) -> None:
    with pytest.raises(PlanError, match="repetitions"):
        plan_session(tests=BOTH, repetitions=repetitions, scheme=OrderScheme.BALANCED)


def test_no_tests_is_refused() -> None:
    with pytest.raises(PlanError):
        plan_session(tests=(), repetitions=1, scheme=OrderScheme.BALANCED)


def test_duplicate_tests_are_refused() -> None:
    with pytest.raises(PlanError):
        plan_session(tests=(V, V), repetitions=1, scheme=OrderScheme.FIXED)


def test_plan_error_is_a_value_error() -> None:
    assert issubclass(PlanError, ValueError)


# -- scales -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", list(SCALES.values()), ids=list(SCALES))
def test_every_scale_runs_0_to_10(scale) -> None:
    assert (scale.minimum, scale.maximum) == (0, 10)
    assert list(scale.values) == list(range(11))
    assert scale.low_word and scale.high_word and scale.question


@pytest.mark.parametrize("scale", list(SCALES.values()), ids=list(SCALES))
def test_scale_accepts_whole_numbers_in_range(scale) -> None:
    for v in range(11):
        assert scale.is_valid(v)


@pytest.mark.parametrize("value", [11, -1, 3.5, 5.0, True, False, "5", None, 100])
@pytest.mark.parametrize("scale", list(SCALES.values()), ids=list(SCALES))
def test_scale_rejects(scale, value: object) -> None:
    assert scale.is_valid(value) is False


def test_scale_names_are_the_keys_and_roles_are_right() -> None:
    assert set(SCALES) == {"tester_stability", "tester_effort", "subject_ease", "discomfort"}
    for name, scale in SCALES.items():
        assert scale.name == name
    assert TESTER_STABILITY.role is Role.TESTER
    assert TESTER_EFFORT.role is Role.TESTER
    assert SUBJECT_EASE.role is Role.SUBJECT
    assert DISCOMFORT.role is Role.SUBJECT
    assert REQUIRED_SCALES == (TESTER_STABILITY, SUBJECT_EASE)


@pytest.mark.parametrize(
    ("effort", "discomfort", "expected"),
    [
        (False, False, (TESTER_STABILITY, SUBJECT_EASE)),
        (True, False, (TESTER_STABILITY, TESTER_EFFORT, SUBJECT_EASE)),
        (False, True, (TESTER_STABILITY, SUBJECT_EASE, DISCOMFORT)),
        (True, True, (TESTER_STABILITY, TESTER_EFFORT, SUBJECT_EASE, DISCOMFORT)),
    ],
)
def test_scales_for_session_asks_the_tester_first(effort, discomfort, expected) -> None:
    asked = scales_for_session(record_effort=effort, record_discomfort=discomfort)
    assert asked == expected
    roles = [s.role for s in asked]
    assert roles == sorted(roles, key=lambda r: r is not Role.TESTER)
    for required in REQUIRED_SCALES:
        assert required in asked


# -- safety -----------------------------------------------------------------------------------


def all_no() -> dict[str, bool]:
    return {k: False for k in SAFETY_KEYS}


def test_safety_keys_cover_the_spec() -> None:
    assert set(SAFETY_KEYS) == {
        "osteoporosis",
        "spine_injury",
        "spinal_condition",
        "severe_pain",
        "pregnancy",
    }


def test_all_no_may_proceed() -> None:
    assert may_proceed(all_no(), cleared_by_clinician=False) is True
    assert may_proceed(all_no(), cleared_by_clinician=True) is True


@pytest.mark.parametrize("key", SAFETY_KEYS)
def test_any_yes_stops_unless_cleared(key: str) -> None:
    answers = {**all_no(), key: True}
    assert may_proceed(answers, cleared_by_clinician=False) is False
    assert may_proceed(answers, cleared_by_clinician=True) is True


@pytest.mark.parametrize("missing", SAFETY_KEYS)
def test_missing_answer_does_not_proceed(missing: str) -> None:
    answers = {k: False for k in SAFETY_KEYS if k != missing}
    assert may_proceed(answers, cleared_by_clinician=False) is False
    assert may_proceed(answers, cleared_by_clinician=True) is False


def test_no_answers_or_unknown_questions_do_not_proceed() -> None:
    assert may_proceed({}, cleared_by_clinician=True) is False
    assert may_proceed({**all_no(), "extra": False}, cleared_by_clinician=True) is False


# -- subject codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["S-014", "a", "Z", "0", "_", "-", "a_b-C9", "x" * 32])
def test_valid_subject_codes(code: str) -> None:
    assert is_valid_subject_code(code)


@pytest.mark.parametrize(
    "code",
    ["", "x" * 33, "S 1", "S.1", "S/1", "é", "S-1\n", "\nS-1", " S1", "S1 ", "a;drop", "ß"],
)
def test_invalid_subject_codes(code: str) -> None:
    assert not is_valid_subject_code(code)


# -- next_step --------------------------------------------------------------------------------


def make_session(**changes: object) -> Session:
    base = Session(
        session_id="s1",
        subject="S-1",
        tester="T",
        station="",
        position=Position.SITTING,
        order_scheme=OrderScheme.FIXED,
        order_seed=None,
        tests=BOTH,
        repetitions=1,
        blind=False,
        record_effort=False,
        record_discomfort=False,
        protocol_version="1.0",
        started_at="2026-11-24T09:15:00Z",
        ended_at=None,
        status=SessionStatus.IN_PROGRESS,
        safety_passed=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def make_trials(
    outcomes: list[Outcome], tests: tuple[StressTest, ...] = BOTH, repetitions: int = 1
) -> list[Trial]:
    plan = plan_session(tests=tests, repetitions=repetitions, scheme=OrderScheme.FIXED)
    assert len(plan) == len(outcomes)
    trials = []
    for p, outcome in zip(plan, outcomes, strict=True):
        ratings: dict[str, int | None] = {}
        if outcome is Outcome.RATED:
            ratings = {"tester_stability": 5, "subject_ease": 5}
        trials.append(
            Trial(
                trial_id=f"t{p.seq}",
                session_id="s1",
                seq=p.seq,
                test=p.test,
                posture=p.posture,
                rep=p.rep,
                outcome=outcome,
                stop_reason=StopReason.PAIN if outcome is Outcome.STOPPED else None,
                ratings=ratings,
            )
        )
    return trials


P, R, X = Outcome.PENDING, Outcome.RATED, Outcome.STOPPED


def test_safety_comes_first() -> None:
    session = make_session(safety_passed=False)
    assert next_step(session, make_trials([P] * 6), []) == SafetyStep()


def test_safety_first_even_with_trials_done() -> None:
    session = make_session(safety_passed=False)
    assert isinstance(next_step(session, make_trials([R] * 6), []), SafetyStep)


def test_first_pending_trial_is_next() -> None:
    trials = make_trials([R, R, P, P, P, P])
    step = next_step(make_session(), trials, [])
    assert isinstance(step, TrialStep)
    assert step.trial.seq == 3


def test_first_pending_trial_uses_seq_not_list_order() -> None:
    trials = make_trials([R, P, P, P, P, P])
    step = next_step(make_session(), list(reversed(trials)), [])
    assert isinstance(step, TrialStep)
    assert step.trial.seq == 2


def test_ranking_after_a_test_block_tester_then_subject() -> None:
    trials = make_trials([R, R, R, P, P, P])
    step = next_step(make_session(), trials, [])
    assert step == RankingStep(V, (Role.TESTER, Role.SUBJECT))


def test_ranking_step_asks_only_who_has_not_ranked() -> None:
    trials = make_trials([R, R, R, P, P, P])
    tester_ranked = [Ranking(V, Role.TESTER, (S, M, L))]
    assert next_step(make_session(), trials, tester_ranked) == RankingStep(V, (Role.SUBJECT,))
    subject_ranked = [Ranking(V, Role.SUBJECT, (S, M, L))]
    assert next_step(make_session(), trials, subject_ranked) == RankingStep(V, (Role.TESTER,))


def test_ranking_of_another_test_does_not_count() -> None:
    trials = make_trials([R, R, R, P, P, P])
    other = [Ranking(A, Role.TESTER, (S, M, L)), Ranking(A, Role.SUBJECT, (S, M, L))]
    assert next_step(make_session(), trials, other) == RankingStep(V, (Role.TESTER, Role.SUBJECT))


def test_after_both_ranked_the_next_test_starts() -> None:
    trials = make_trials([R, R, R, P, P, P])
    ranked = [Ranking(V, Role.TESTER, (S, M, L)), Ranking(V, Role.SUBJECT, (L, M, S))]
    step = next_step(make_session(), trials, ranked)
    assert isinstance(step, TrialStep)
    assert step.trial.seq == 4
    assert step.trial.test is A


def test_ranking_with_two_rated_postures_and_one_stopped() -> None:
    trials = make_trials([R, X, R, P, P, P])
    assert next_step(make_session(), trials, []) == RankingStep(V, (Role.TESTER, Role.SUBJECT))


def test_no_ranking_when_fewer_than_two_postures_rated() -> None:
    trials = make_trials([R, X, X, P, P, P])
    step = next_step(make_session(), trials, [])
    assert isinstance(step, TrialStep)
    assert step.trial.seq == 4


def test_two_rated_trials_of_the_same_posture_are_not_enough_to_rank() -> None:
    # two repetitions: ligament rated twice, the other postures stopped
    outcomes = [R, X, X, R, X, X]
    trials = make_trials(outcomes, tests=(V,), repetitions=2)
    assert next_step(make_session(tests=(V,), repetitions=2), trials, []) == FinishStep()


def test_finish_when_everything_is_in() -> None:
    trials = make_trials([R] * 6)
    ranked = [Ranking(t, r, (S, M, L)) for t in BOTH for r in Role]
    assert next_step(make_session(), trials, ranked) == FinishStep()


def test_last_ranking_comes_before_finish() -> None:
    trials = make_trials([R] * 6)
    ranked = [Ranking(V, r, (S, M, L)) for r in Role]
    assert next_step(make_session(), trials, ranked) == RankingStep(A, (Role.TESTER, Role.SUBJECT))


def test_finish_when_all_stopped() -> None:
    assert next_step(make_session(), make_trials([X] * 6), []) == FinishStep()


@pytest.mark.parametrize("status", [SessionStatus.COMPLETE, SessionStatus.STOPPED])
def test_summary_when_session_ended(status: SessionStatus) -> None:
    session = make_session(status=status, safety_passed=False)
    assert next_step(session, make_trials([P] * 6), []) == SummaryStep()
    session = make_session(status=status)
    assert next_step(session, make_trials([R] * 6), []) == SummaryStep()


# -- summarise --------------------------------------------------------------------------------


def rated(seq: int, test: StressTest, posture: Posture, stab: int, ease: int, rep: int = 1):
    return Trial(
        trial_id=f"t{seq}",
        session_id="s1",
        seq=seq,
        test=test,
        posture=posture,
        rep=rep,
        outcome=Outcome.RATED,
        ratings={"tester_stability": stab, "subject_ease": ease, "discomfort": None},
    )


def test_summarise_means_per_posture_and_test() -> None:
    trials = [
        rated(1, V, L, 2, 3),
        rated(2, V, M, 5, 6),
        rated(3, V, S, 8, 9),
        rated(4, V, L, 4, 4, rep=2),
        rated(5, V, M, 6, 6, rep=2),
        Trial("t6", "s1", 6, V, S, 2, Outcome.STOPPED, StopReason.PAIN),
        rated(7, A, S, 10, 10),
        Trial("t8", "s1", 8, A, L, 1, Outcome.PENDING),
        Trial("t9", "s1", 9, A, M, 1, Outcome.SKIPPED),
    ]
    scales = (TESTER_STABILITY, SUBJECT_EASE, DISCOMFORT)
    summaries = summarise(trials, [], scales)
    assert [s.test for s in summaries] == [V, A]
    vertical = {p.posture: p for p in summaries[0].postures}
    assert vertical[L].n_rated == 2
    assert vertical[L].means == {"tester_stability": 3.0, "subject_ease": 3.5, "discomfort": None}
    assert vertical[M].means["tester_stability"] == 5.5
    assert vertical[M].means["subject_ease"] == 6.0
    # the stopped skeleton trial does not count
    assert vertical[S].n_rated == 1
    assert vertical[S].means["tester_stability"] == 8.0
    anterior = {p.posture: p for p in summaries[1].postures}
    assert anterior[S].means["subject_ease"] == 10.0
    assert anterior[L].n_rated == 0
    assert anterior[L].means["tester_stability"] is None
    assert anterior[M].n_rated == 0


def test_summarise_rankings_and_agreement() -> None:
    trials = [rated(1, V, L, 1, 1), rated(2, A, L, 1, 1)]
    rankings = [
        Ranking(V, Role.SUBJECT, (S, M, L)),
        Ranking(V, Role.TESTER, (S, L, M)),
        Ranking(A, Role.SUBJECT, (M, S, L)),
        Ranking(A, Role.TESTER, (S, M, L)),
    ]
    by_test = {s.test: s for s in summarise(trials, rankings, (TESTER_STABILITY,))}
    assert by_test[V].rankings == {Role.SUBJECT: (S, M, L), Role.TESTER: (S, L, M)}
    assert by_test[V].best_by_rank(Role.SUBJECT) is S
    assert by_test[V].agree_on_best is True
    assert by_test[A].agree_on_best is False


def test_agree_on_best_is_none_until_both_ranked() -> None:
    trials = [rated(1, V, L, 1, 1), rated(2, A, L, 1, 1)]
    rankings = [Ranking(V, Role.SUBJECT, (S, M, L))]
    by_test = {s.test: s for s in summarise(trials, rankings, (TESTER_STABILITY,))}
    assert by_test[V].agree_on_best is None
    assert by_test[A].agree_on_best is None
    assert by_test[A].rankings == {}


def test_session_setup_defaults_to_balanced_order() -> None:
    setup = SessionSetup(subject="S-1")
    assert setup.scheme is OrderScheme.BALANCED
    assert 1 <= setup.repetitions <= 3


def test_progress_counts_trials_that_are_not_pending() -> None:
    assert progress(make_trials([R, X, P, P, P, P])) == (2, 6)
    assert progress(make_trials([R] * 6)) == (6, 6)
    assert progress([]) == (0, 0)
