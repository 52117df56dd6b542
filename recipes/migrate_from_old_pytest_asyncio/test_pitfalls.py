"""The old code from before_0_21/ and before_0_23/, run unchanged on pytest-asyncio 1.x: the errors it gives."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
# The sandbox loads only the plugins it names: nothing else installed can change its outcome.
LEAN = [
    "--disable-plugin-autoload",
    "-p",
    "pytest_asyncio.plugin",
    "-p",
    "pytest_aiohttp.plugin",
    "-p",
    "no:cacheprovider",
]


def old_project(pytester: pytest.Pytester, before: str, *, ini: str = "", conftest: bool = True) -> None:
    """The old project as it was: the quote service, and the files of ``before`` without their ``legacy_`` prefix.

    ``ini`` is appended to its pytest.ini: the one setting a user adds first.
    """
    package = pytester.mkpydir("legacy_project")
    (package / "quote_service.py").write_text((HERE / "quote_service.py").read_text())
    tests = pytester.mkpydir(f"legacy_project/{before}")
    for source in sorted((HERE / before).glob("legacy_*")):
        name = source.name.removeprefix("legacy_")
        if name == "pytest.ini":
            (pytester.path / name).write_text(source.read_text() + ini)
        elif conftest or name != "conftest.py":
            (tests / name).write_text(source.read_text())


FUNCTION_FIXTURE_LOOPS = "asyncio_default_fixture_loop_scope = function\n"  # what 1.x's warning asks for


def test_the_old_config_stops_pytest_before_the_first_test(pytester: pytest.Pytester) -> None:
    # filterwarnings = error turns 1.x's warning about the unset option into an internal error.
    old_project(pytester, "before_0_21")

    result = pytester.runpytest(*LEAN)

    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stderr.fnmatch_lines(
        [
            "INTERNALERROR> pytest.PytestDeprecationWarning: The configuration option "
            '"asyncio_default_fixture_loop_scope" is unset.'
        ]
    )


def test_without_the_override_the_old_loop_fixtures_are_not_found(pytester: pytest.Pytester) -> None:
    old_project(pytester, "before_0_21", ini=FUNCTION_FIXTURE_LOOPS, conftest=False)

    result = pytester.runpytest(*LEAN, "-k", "not shared_client")

    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_background_request_on_event_loop*",
            "E       fixture 'event_loop' not found",
            "*ERROR at setup of test_sync_test_drives_the_loop*",
            "E       fixture 'loop' not found",
            "*ERROR at setup of test_server_on_a_port_from_aiohttp*",
            "E       fixture 'aiohttp_unused_port' not found",
        ]
    )


def test_the_old_session_loop_override_is_now_an_ordinary_fixture(pytester: pytest.Pytester) -> None:
    # A subprocess: the task created on the override's loop never runs, and is destroyed at exit.
    old_project(pytester, "before_0_21", ini=FUNCTION_FIXTURE_LOOPS)

    result = pytester.runpytest_subprocess(*LEAN)

    result.assert_outcomes(failed=1, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_shared_client_reads_a_price*",
            "ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner "
            "with a session scoped request object*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_background_request_on_event_loop _*",
            "E       RuntimeError: Task <Task pending name=* coro=<test_background_request_on_event_loop() *> "
            "got Future <Task pending name=* coro=<price_from_a_server_of_its_own() *> attached to a different loop",
        ]
    )


@pytest.mark.parametrize(
    ("defaults", "outcome"),
    [
        ("asyncio_default_fixture_loop_scope = session\n", {"failed": 1}),
        ("asyncio_default_fixture_loop_scope = session\nasyncio_default_test_loop_scope = session\n", {"passed": 1}),
    ],
    ids=["fixtures-only", "fixtures-and-tests"],
)
def test_one_shared_loop_takes_both_default_loop_scopes(
    pytester: pytest.Pytester, defaults: str, outcome: dict[str, int]
) -> None:
    old_project(pytester, "before_0_21", ini=defaults)

    result = pytester.runpytest(*LEAN, "-k", "shared_client")

    result.assert_outcomes(**outcome)
    if "failed" in outcome:
        result.stdout.fnmatch_lines(["E           RuntimeError: Timeout context manager should be used inside a task"])


def test_the_0_23_scope_argument_of_the_asyncio_mark_is_deprecated(pytester: pytest.Pytester) -> None:
    old_project(pytester, "before_0_23", ini=FUNCTION_FIXTURE_LOOPS)

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            'E   pytest.PytestDeprecationWarning: The "scope" keyword argument to the asyncio marker has been '
            'deprecated. Please use the "loop_scope" argument instead.',
            "*Interrupted: 1 error during collection*",
        ]
    )


def follow_the_0_23_guide(pytester: pytest.Pytester, *, fixtures: bool) -> None:
    """The 0.23 migration guide's edits to the old test file: loop_scope= on the marks, and on the fixtures too."""
    (old,) = pytester.path.glob("legacy_project/before_0_23/test_*.py")
    source = old.read_text().replace("asyncio(scope=", "asyncio(loop_scope=")
    if fixtures:
        for scope in ("module", "class"):
            source = source.replace(f'fixture(scope="{scope}")', f'fixture(scope="{scope}", loop_scope="{scope}")')
    old.write_text(source)


def test_0_23_fixtures_whose_scope_picked_their_loop_are_a_scope_mismatch(pytester: pytest.Pytester) -> None:
    old_project(pytester, "before_0_23", ini=FUNCTION_FIXTURE_LOOPS)
    follow_the_0_23_guide(pytester, fixtures=False)

    result = pytester.runpytest(*LEAN)

    # Each fixture's first user gets the real error; the next one only a bare AssertionError.
    result.assert_outcomes(errors=4)
    mismatch = "ScopeMismatch: You tried to access the function scoped fixture _function_scoped_runner with a {}"
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_module_client_reads_a_price*",
            mismatch.format("module scoped request object*"),
            "*ERROR at setup of test_module_client_is_reused*",
            "E       AssertionError",
            "*ERROR at setup of TestOnAClassLoop.test_first*",
            mismatch.format("class scoped request object*"),
            "*ERROR at setup of TestOnAClassLoop.test_second_reuses_the_client*",
            "E       AssertionError",
        ]
    )


def test_pytest_9_refuses_a_class_scoped_fixture_that_is_an_instance_method(pytester: pytest.Pytester) -> None:
    old_project(pytester, "before_0_23", ini=FUNCTION_FIXTURE_LOOPS)
    follow_the_0_23_guide(pytester, fixtures=True)

    result = pytester.runpytest(*LEAN)

    result.assert_outcomes(passed=2, errors=2)  # the module's tests pass now; the class's do not
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of TestOnAClassLoop.test_first*",
            "E       pytest.PytestRemovedIn10Warning: "
            "Class-scoped fixtures defined as instance methods are deprecated.",
            "E       Use a @classmethod decorator below @pytest.fixture and set attributes on cls instead.",
        ]
    )


def test_a_per_test_fixture_without_loop_scope_is_on_another_loop_than_its_test(pytester: pytest.Pytester) -> None:
    # The new code, with the one loop_scope= that is easy to forget left out.
    package = pytester.mkpydir("migrated")
    (package / "quote_service.py").write_text((HERE / "quote_service.py").read_text())
    pattern = (HERE / "test_quote_service.py").read_text()
    forgotten = pattern.replace('@pytest_asyncio.fixture(loop_scope="session")', "@pytest_asyncio.fixture")
    assert forgotten != pattern
    (package / "test_quote_service.py").write_text(forgotten)
    pytester.makeini("[pytest]\nfilterwarnings = error\n" + FUNCTION_FIXTURE_LOOPS)

    result = pytester.runpytest(*LEAN, "-k", "per_test_fixture")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E           RuntimeError: Timeout context manager should be used inside a task"])
