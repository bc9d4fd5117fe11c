"""Posture orders and the session plan: setup choices in, the ordered list of trials out."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from posturetest.domain.protocol import OrderScheme, Posture, StressTest

POSTURE_ORDERS: tuple[tuple[Posture, ...], ...] = tuple(itertools.permutations(Posture))
"""All six orders of the three postures; `balanced` takes them in turn across subjects."""

FIXED_ORDER: tuple[Posture, ...] = (Posture.LIGAMENT, Posture.MUSCLE, Posture.SKELETON)
MAX_REPETITIONS = 3


@dataclass(frozen=True)
class PlannedTrial:
    seq: int
    """1-based position of the trial in its session."""
    test: StressTest
    posture: Posture
    rep: int


class PlanError(ValueError):
    """Setup choices that cannot make a plan."""


def balanced_orders(
    enrolment_index: int, tests: tuple[StressTest, ...]
) -> tuple[tuple[StressTest, ...], tuple[Posture, ...]]:
    """Test order and posture order for the subject enrolled `enrolment_index`-th (0-based).

    Posture orders cycle through all six permutations, so every 6 consecutive subjects use each
    order once. The test order flips after each block of six, so over 12 subjects every posture
    order is met with both test orders: neither is confounded with the other.
    """
    posture_order = POSTURE_ORDERS[enrolment_index % len(POSTURE_ORDERS)]
    test_order = tests if (enrolment_index // len(POSTURE_ORDERS)) % 2 == 0 else tests[::-1]
    return test_order, posture_order


def plan_session(
    *,
    tests: tuple[StressTest, ...],
    repetitions: int,
    scheme: OrderScheme,
    enrolment_index: int = 0,
    seed: int | None = None,
    fixed_order: tuple[Posture, ...] = FIXED_ORDER,
) -> list[PlannedTrial]:
    """The ordered trials of one session.

    Within a test every repetition runs the three postures in the test's posture order, and all
    of a test's trials come before the next test, so the pair ranks the postures once per test.
    """
    if not tests:
        raise PlanError("choose at least one test")
    if len(set(tests)) != len(tests):
        raise PlanError("each test can be chosen only once")
    if not 1 <= repetitions <= MAX_REPETITIONS:
        raise PlanError(f"repetitions must be 1 to {MAX_REPETITIONS}")
    if sorted(fixed_order) != sorted(Posture):
        raise PlanError("a fixed order names each posture once")

    orders: list[tuple[StressTest, tuple[Posture, ...]]]
    if scheme is OrderScheme.BALANCED:
        test_order, posture_order = balanced_orders(enrolment_index, tests)
        orders = [(t, posture_order) for t in test_order]
    elif scheme is OrderScheme.RANDOM:
        if seed is None:
            raise PlanError("a random order needs a seed")
        rng = random.Random(seed)
        shuffled_tests = list(tests)
        rng.shuffle(shuffled_tests)
        orders = [(t, tuple(rng.sample(list(Posture), k=3))) for t in shuffled_tests]
    else:
        orders = [(t, fixed_order) for t in tests]

    plan: list[PlannedTrial] = []
    for test, postures in orders:
        for rep in range(1, repetitions + 1):
            for posture in postures:
                plan.append(PlannedTrial(len(plan) + 1, test, posture, rep))
    return plan


def new_seed() -> int:
    """A seed for the random scheme, small enough to read out and type back in."""
    return random.SystemRandom().randrange(1, 2**31)
