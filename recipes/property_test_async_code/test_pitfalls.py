"""Ways a ``@given`` async test goes wrong, each next to its fix, in strict-mode sandboxes."""

import pytest

pytest_plugins = ["pytester"]

STRICT = "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = ["--disable-plugin-autoload", "-p", "pytest_asyncio.plugin", "-p", "hypothesispytest", "-p", "no:cacheprovider"]


def test_strict_mode_without_the_asyncio_mark_leaves_hypothesis_with_a_coroutine(pytester: pytest.Pytester) -> None:
    # The same run shows the second pitfall: a function-scoped fixture would be made once
    # and shared by every example, so state leaks between them; hypothesis refuses it.
    pytester.makeini(STRICT)
    pytester.makepyfile(
        """
        import pytest, pytest_asyncio
        from hypothesis import given, settings, strategies as st

        settings.register_profile("quick", max_examples=10)
        settings.load_profile("quick")

        @given(st.integers())
        async def test_unmarked(number):
            assert number == number

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_marked(number):
            assert number == number

        @pytest_asyncio.fixture
        async def seen():
            return []

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_with_fixture(seen, number):
            seen.append(number)

        @given(st.integers())
        @pytest.mark.asyncio
        async def test_builds_its_own_state(number):
            seen = [number]
            assert len(seen) == 1
        """
    )

    result = pytester.runpytest(*LEAN, "-rf")  # hypothesis's own plugin stays: it runs the health check

    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E   hypothesis.errors.InvalidArgument: Hypothesis doesn't know how to run async test functions"
            " like test_unmarked.*",
            "E   hypothesis.errors.FailedHealthCheck: '*::test_with_fixture' uses a function-scoped fixture 'seen'.",
            "FAILED *::test_unmarked*",
            "FAILED *::test_with_fixture*",
        ]
    )


def test_the_default_deadline_fails_examples_that_take_real_time(pytester: pytest.Pytester) -> None:
    # A 1 ms deadline stands in for the default 200 ms, to keep this quick: an example
    # slower than the deadline fails, and an async example's time swings on a busy machine.
    pytester.makeini(STRICT)
    pytester.makepyfile(
        """
        import asyncio
        from datetime import timedelta
        import pytest
        from hypothesis import given, settings, strategies as st

        @settings(deadline=timedelta(milliseconds=1))
        @given(st.just(0))
        @pytest.mark.asyncio
        async def test_with_deadline(number):
            await asyncio.sleep(0.005)

        @settings(deadline=None)
        @given(st.just(0))
        @pytest.mark.asyncio
        async def test_without_deadline(number):
            await asyncio.sleep(0.005)
        """
    )

    # Without hypothesis's plugin, which would spend most of the run writing a patch file.
    result = pytester.runpytest(*LEAN, "-p", "no:hypothesispytest")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E *hypothesis.errors.DeadlineExceeded: Test took *ms, which exceeds the deadline of 1.00ms.*"]
    )
