"""The marvin pytest plugin, driven through pytester (no management server: fixtures that would reach one
are replaced by stubs in the inner runs)."""

import json

import pytest

from marvin import coverage, sandbox
from marvin.configfile import parse
from marvin.plugin import hypervisor_of

pytest_plugins = ["pytester"]

CONFIG = {"mgtSvr": [{"mgtSvrIp": "127.0.0.1", "port": 8096}]}


def write_config(pytester, name="dc.cfg", body=None):
    path = pytester.path / name
    path.write_text("# a comment line, as upstream configs carry\n" + json.dumps(body or CONFIG))
    return path


# ---- options ----------------------------------------------------------------------------------------


def test_options_parse(pytester):
    pytester.makepyfile("""
        def test_options(pytestconfig):
            get = pytestconfig.getoption
            assert get("marvin_config") == "dc.cfg" and get("deploy") is True
            assert (get("zone"), get("hypervisor")) == ("z1", "KVM")
            assert get("sandbox") and get("coverage_gate")
    """)
    write_config(pytester)
    result = pytester.runpytest("--marvin-config", "dc.cfg", "--deploy", "--zone", "z1", "--hypervisor",
                                "KVM", "--sandbox", "--coverage-gate", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_options_are_grouped_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*Marvin-style CloudStack tests*", "*--marvin-config=FILE*", "*--deploy*",
                                 "*--zone=NAME*", "*--hypervisor=NAME*", "*marvin_coverage_allowlist*"])


def test_marvin_config_comes_from_the_environment(pytester, monkeypatch):
    monkeypatch.setenv("MARVIN_CONFIG", str(write_config(pytester)))
    pytester.makepyfile("""
        def test_loaded(marvin_config):
            assert marvin_config.mgtSvr[0].port == 8096
            assert marvin_config.zones is None  # a missing key reads as None
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_no_config_means_none(pytester, monkeypatch):
    monkeypatch.delenv("MARVIN_CONFIG", raising=False)
    pytester.makepyfile("def test_none(marvin_config):\n    assert marvin_config is None\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_deploy_without_a_config_is_a_usage_error(pytester, monkeypatch):
    monkeypatch.delenv("MARVIN_CONFIG", raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--deploy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--deploy needs a config*"])


def test_hypervisor_defaults_to_the_config_then_the_simulator():
    zones = [{"name": "z", "pods": [{"clusters": [{"hypervisor": "KVM"}]}]}]
    config = parse(json.dumps({**CONFIG, "zones": zones}))
    assert hypervisor_of(config) == "KVM"
    assert hypervisor_of(config, "XenServer") == "XenServer"
    assert hypervisor_of(None) == hypervisor_of(parse(json.dumps(CONFIG))) == "Simulator"


# ---- markers ----------------------------------------------------------------------------------------

TAGGED = """
    import pytest

    @pytest.mark.smoke
    @pytest.mark.advanced
    @pytest.mark.required_hardware("false")
    def test_advanced_simulated():
        pass

    @pytest.mark.tags("advanced", "dvs", required_hardware="true")
    def test_advanced_on_hardware():
        pass

    @pytest.mark.tags("basic", "sg")
    @pytest.mark.required_hardware(False)
    def test_basic():
        pass

    @pytest.mark.vpc
    def test_untagged_hardware():
        pass
"""


def test_markers_are_registered(pytester):
    result = pytester.runpytest("--markers")
    for name in ("smoke", "basic", "advanced", "advancedns", "advancedsg", "sg", "eip", "elb", "vpc", "speed",
                 "selfservice", "provisioning", "devcloud", "simulator", "required_hardware", "tags"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}*"])


def test_strict_markers_accept_marvin_tags(pytester):
    pytester.makepyfile(TAGGED)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=4)


def test_strict_markers_still_refuse_typos(pytester):
    pytester.makepyfile("import pytest\n\n@pytest.mark.smok\ndef test_x():\n    pass\n")
    result = pytester.runpytest("--strict-markers")
    result.stdout.fnmatch_lines(["*'smok' not found in `markers` configuration option*"])


@pytest.mark.parametrize(("expression", "selected"), [
    ("advanced", ["test_advanced_simulated", "test_advanced_on_hardware"]),
    ("dvs", ["test_advanced_on_hardware"]),
    ("advanced and required_hardware(value=False)", ["test_advanced_simulated"]),
    ("required_hardware(value=False)", ["test_advanced_simulated", "test_basic"]),
    ("not required_hardware(value=True)",
     ["test_advanced_simulated", "test_basic", "test_untagged_hardware"]),
    ("basic and sg", ["test_basic"]),
])
def test_marvin_tags_select_with_m(pytester, expression, selected):
    pytester.makepyfile(TAGGED)
    result = pytester.runpytest("-m", expression, "-v", "--strict-markers")
    result.assert_outcomes(passed=len(selected), deselected=4 - len(selected))
    for name in selected:
        result.stdout.fnmatch_lines([f"*::{name} PASSED*"])


# ---- fixtures ---------------------------------------------------------------------------------------


def test_cleanup_runs_last_in_first_out(pytester):
    pytester.makepyfile("""
        done = []

        class Resource:
            def __init__(self, name):
                self.name = name
            def delete(self):
                done.append(self.name)

        class UpstreamStyle:
            def delete(self, apiclient):
                done.append(("upstream", apiclient))

        def test_register(cleanup):
            cleanup.add(done.append, "first")
            cleanup.add(Resource("second"))
            cleanup.add(lambda: done.append("third"))
            cleanup.add(UpstreamStyle())

        def test_order():
            assert done == [("upstream", None), "third", "second", "first"]
    """)
    pytester.runpytest().assert_outcomes(passed=2)


def test_cleanup_reports_every_failure_and_runs_the_rest(pytester):
    pytester.makepyfile("""
        done = []

        def fail(text):
            raise RuntimeError(text)

        def test_register(cleanup):
            cleanup.add(done.append, "ran anyway")
            cleanup.add(fail, "first failure")
            cleanup.add(fail, "second failure")

        def test_after():
            assert done == ["ran anyway"]
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*2 cleanup step(s) failed*", "*fail: RuntimeError: second failure*",
                                 "*fail: RuntimeError: first failure*"])


STUB_ADMIN = """
    import pytest
    from marvin.lib.base import Api

    class Stub(Api):
        url = "http://stub/client/api"
        def __init__(self, zones):
            self.zones = zones
        def list(self, command, **params):
            assert command == "listZones"
            return [z for z in self.zones if z["name"] == params.get("name")]

    class StubClient:
        url = "http://stub/client/api"
        def __init__(self, zones):
            self.api = Stub(zones)
        def marvin_api(self):
            return self.api

    @pytest.fixture(scope="session")
    def admin():
        return StubClient([{"id": "z-1", "name": "Sandbox-simulator", "allocationstate": "Enabled"}])
"""


def test_zone_fixture_skips_without_a_zone_under_test(pytester, monkeypatch):
    monkeypatch.delenv("MARVIN_CONFIG", raising=False)
    pytester.makeconftest(STUB_ADMIN)
    pytester.makepyfile("def test_needs_zone(zone):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no zone under test: pass --zone NAME or a --marvin-config with zones*"])


def test_zone_fixture_skips_when_the_zone_is_not_there(pytester):
    pytester.makeconftest(STUB_ADMIN)
    pytester.makepyfile("def test_needs_zone(zone):\n    pass\n")
    result = pytester.runpytest("-rs", "--zone", "elsewhere")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*zone 'elsewhere' is not on http://stub/client/api (pass --deploy*"])


def test_zone_fixture_finds_the_named_zone(pytester):
    pytester.makeconftest(STUB_ADMIN)
    pytester.makepyfile("""
        def test_needs_zone(zone):
            assert (zone.id, zone.allocationstate) == ("z-1", "Enabled")
    """)
    pytester.runpytest("--zone", "Sandbox-simulator").assert_outcomes(passed=1)


# ---- the coverage gate -------------------------------------------------------------------------------


def test_merge_sums_counts_and_unites_registries():
    registered, called = coverage.merge([
        {"called": {"listZones": 2, "createZone": 0}, "registered": ["listZones", "createZone"]},
        {"called": {"listZones": 1, "deleteZone": 1}, "registered": ["deleteZone"]},
    ])
    assert registered == {"listZones", "createZone", "deleteZone"}
    assert called == {"listZones": 3, "deleteZone": 1}


def test_allowlist_lines_carry_reasons():
    text = "# header\n\ncreateZone  # needs a zone\nlistZones\n  deleteZone   #   later  \n"
    expected = {"createZone": "needs a zone", "listZones": "", "deleteZone": "later"}
    assert coverage.parse_allowlist(text) == expected


def make_report(called, allowed=None):
    return coverage.Report({"a", "b", "c"}, coverage.collections.Counter(called), allowed or {})


def test_report_passes_when_every_command_is_exercised_or_allowed():
    report = make_report({"a": 1, "b": 4}, {"c": "no simulator for it"})
    assert report.ok and report.summary() == "2 of 3 registered commands exercised"


def test_report_fails_for_a_command_neither_exercised_nor_allowed():
    report = make_report({"a": 1})
    assert report.missing == ["b", "c"] and not report.ok
    assert "b, c" in report.problems()[0]


def test_report_fails_for_an_allowed_command_that_was_exercised():
    report = make_report({"a": 1, "b": 1, "c": 1}, {"c": "was hard"})
    assert report.stale == ["c"] and "remove from the allow-list: c" in report.problems()[0]


def test_report_fails_for_unknown_or_unexplained_entries():
    report = make_report({"a": 1, "b": 1}, {"c": "", "zap": "gone"})
    assert (report.unknown, report.unexplained) == (["zap"], ["c"])
    assert len(report.problems()) == 2


def test_nothing_measured_is_no_report():
    assert coverage.report([]) is None


GATED = """
    from marvin import sandbox

    class FakeServer:
        def coverage(self):
            return {"called": {"listZones": 1}, "registered": ["listZones", "createZone"]}

    def test_runs_a_server():
        sandbox.LAUNCHED.append(FakeServer())

    def test_other():
        pass
"""


@pytest.fixture
def gated(pytester, monkeypatch):
    """An inner session whose 'servers' are fakes, kept out of this session's list."""
    monkeypatch.setattr(sandbox, "LAUNCHED", [])
    pytester.makepyfile(test_gated=GATED)
    pytester.makeini("[pytest]\nmarvin_coverage_allowlist = allow.txt\n")
    return pytester


def test_gate_fails_the_session_and_names_the_command(gated):
    result = gated.runpytest("--coverage-gate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 of 2 registered commands exercised*",
                                 "*coverage gate FAILED: not exercised by any test*createZone*"])


def test_gate_passes_with_the_command_allowed(gated):
    (gated.path / "allow.txt").write_text("createZone  # no zones in this suite\n")
    result = gated.runpytest("--coverage-gate")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*1 of 2 registered commands exercised*", "*coverage gate passed*"])


def test_gate_fails_when_an_allowed_command_was_exercised(gated):
    (gated.path / "allow.txt").write_text("createZone  # no zones\nlistZones  # was missing once\n")
    result = gated.runpytest("--coverage-gate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*exercised now, remove from the allow-list: listZones*"])


def test_without_the_gate_the_figure_is_only_printed(gated):
    result = gated.runpytest()
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*1 of 2 registered commands exercised*"])


def test_a_partial_run_is_not_judged(gated):
    result = gated.runpytest("--coverage-gate", "-k", "runs_a_server")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*coverage gate not applied: only part of the suite ran*"])


def test_a_run_of_some_files_is_not_judged(gated):
    gated.makepyfile(test_more="def test_more():\n    pass\n")
    result = gated.runpytest("--coverage-gate", "test_gated.py")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*coverage gate not applied: only part of the suite ran (not collected: "
                                 "test_more.py)*"])
