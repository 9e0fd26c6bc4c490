"""Loading a policy bundle: what is read, its revision, and every way loading must fail."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from broker.errors import PolicyLoadError
from broker.policy.bundle import MAX_FILE_BYTES, PolicyBundle, read_revision, revision_of
from tests.policy.scenario import POLICIES_DIR

DATA_DOCUMENTS = {
    "agencies",
    "agreements",
    "consent_scopes",
    "filters",
    "jurisdictions",
    "legal_bases",
    "offences",
    "purposes",
    "retention",
}


def test_shipped_library_loads(bundle: PolicyBundle) -> None:
    assert set(bundle.data) == DATA_DOCUMENTS
    assert "decision.rego" in bundle.modules and "release.rego" in bundle.modules
    assert "decision_test.rego" in bundle.test_modules
    assert not any(name.endswith("_test.rego") for name in bundle.modules)
    assert bundle.data["agreements"]["us-cl-pcsc"]["max_results"] == 5
    assert re.fullmatch(r"[0-9a-f]{64}", bundle.revision)


def test_revision_is_stable(bundle: PolicyBundle) -> None:
    assert PolicyBundle.load(POLICIES_DIR).revision == bundle.revision


def test_revision_does_not_depend_on_file_order_or_location(
    bundle: PolicyBundle, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    for path in sorted(POLICIES_DIR.iterdir(), reverse=True):  # created in another order
        if path.is_file():
            shutil.copy(path, target / path.name)
    assert PolicyBundle.load(target).revision == bundle.revision
    files = {"a.rego": b"1", "b.json": b"2"}
    assert revision_of(files) == revision_of(dict(reversed(files.items())))


@pytest.mark.parametrize(
    "name", ["purposes.rego", "agreements.json", "agreements.schema.json", "clock.rego"]
)
def test_revision_changes_when_a_decisive_file_changes(
    bundle: PolicyBundle, policy_copy: Path, name: str
) -> None:
    path = policy_copy / name
    path.write_text(path.read_text() + "\n")
    assert PolicyBundle.load(policy_copy).revision != bundle.revision


def test_revision_changes_when_a_module_is_added(bundle: PolicyBundle, policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text("package broker.extra\n\nx := 1\n")
    assert PolicyBundle.load(policy_copy).revision != bundle.revision


@pytest.mark.parametrize("name", ["decision_test.rego", "README.md"])
def test_tests_and_documentation_do_not_change_the_revision(
    bundle: PolicyBundle, policy_copy: Path, name: str
) -> None:
    path = policy_copy / name
    path.write_text(path.read_text() + "\n# edited\n")
    assert PolicyBundle.load(policy_copy).revision == bundle.revision


def test_schemas_markdown_and_hidden_files_are_not_mounted(policy_copy: Path) -> None:
    (policy_copy / ".editor-backup.rego").write_text("this is not Rego")
    (policy_copy / ".hidden.json").write_text("{not json")
    loaded = PolicyBundle.load(policy_copy)
    assert not any(name.startswith(".") for name in [*loaded.modules, *loaded.data])
    assert not any("schema" in name or "README" in name for name in loaded.data)


def _configmap_mount(tmp_path: Path, version: str) -> Path:
    """Lays out a directory as kubelet mounts a ConfigMap: files in a timestamped
    directory, `..data` pointing at it, and one symlink per file through `..data`."""
    mount = tmp_path / "mount"
    mount.mkdir(exist_ok=True)
    versioned = mount / version
    shutil.copytree(POLICIES_DIR, versioned)
    data_link = mount / "..data"
    if data_link.is_symlink():
        data_link.unlink()
    data_link.symlink_to(version)
    for path in versioned.iterdir():
        link = mount / path.name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / path.name)
    return mount


def test_read_revision_is_the_revision_without_loading(
    bundle: PolicyBundle, policy_copy: Path
) -> None:
    assert read_revision(POLICIES_DIR) == bundle.revision
    (policy_copy / "decision_test.rego").write_text("not even Rego")
    assert read_revision(policy_copy) == bundle.revision  # tests do not count
    (policy_copy / "broken.rego").write_text("package broker.broken\n\nallow if {\n")
    assert read_revision(policy_copy) != bundle.revision  # nor does it parse anything


def test_read_revision_of_an_unreadable_bundle_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="cannot list the bundle"):
        read_revision(tmp_path / "absent")


def test_loading_without_compiling_leaves_rego_errors_to_the_engine(policy_copy: Path) -> None:
    (policy_copy / "unsafe.rego").write_text("package broker.unsafe\n\nallow if { y == 1 }\n")
    loaded = PolicyBundle.load(policy_copy, compile_now=False)
    assert "unsafe.rego" in loaded.modules
    assert "unsafe.rego" in _load_error(policy_copy)


def test_configmap_mount_loads_through_symlinks(bundle: PolicyBundle, tmp_path: Path) -> None:
    mount = _configmap_mount(tmp_path, "..2026_06_01_12_00_00.000000001")
    assert (mount / "decision.rego").is_symlink()
    loaded = PolicyBundle.load(mount)
    assert loaded.revision == bundle.revision
    assert set(loaded.data) == DATA_DOCUMENTS


def test_configmap_update_is_seen_whole(bundle: PolicyBundle, tmp_path: Path) -> None:
    """kubelet writes a new version beside the old and swaps `..data`: a load reads one
    version, never a mix."""
    mount = _configmap_mount(tmp_path, "..v1")
    new = mount / "..v2"
    shutil.copytree(mount / "..v1", new)
    purposes = json.loads((new / "purposes.json").read_text())
    purposes["missing_person"]["max_results"] = 3
    (new / "purposes.json").write_text(json.dumps(purposes))
    assert PolicyBundle.load(mount).revision == bundle.revision  # ..data still at v1
    (mount / "..data").unlink()
    (mount / "..data").symlink_to("..v2")
    updated = PolicyBundle.load(mount)
    assert updated.revision != bundle.revision
    assert updated.data["purposes"]["missing_person"]["max_results"] == 3


def _load_error(directory: Path) -> str:
    with pytest.raises(PolicyLoadError) as caught:
        PolicyBundle.load(directory)
    return str(caught.value)


def test_parse_error_names_the_file(policy_copy: Path) -> None:
    (policy_copy / "broken.rego").write_text("package broker.broken\n\nallow if {\n")
    assert "broken.rego" in _load_error(policy_copy)


def test_compile_error_names_the_file(policy_copy: Path) -> None:
    (policy_copy / "unsafe.rego").write_text("package broker.unsafe\n\nallow if { y == 1 }\n")
    message = _load_error(policy_copy)
    assert "unsafe.rego:3" in message and "unsafe" in message


def test_old_rego_syntax_is_a_parse_error(policy_copy: Path) -> None:
    (policy_copy / "old.rego").write_text("package broker.old\n\nallow { true }\n")
    assert "old.rego" in _load_error(policy_copy)


def test_broken_test_module_names_the_file(policy_copy: Path) -> None:
    (policy_copy / "broken_test.rego").write_text("package broker.broken_test\n\ntest_x if {\n")
    assert "broken_test.rego" in _load_error(policy_copy)


def test_conflicting_rule_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "extra.rego").write_text("package broker\n\ndecision contains 1\n")
    assert "conflicting rules data.broker.decision" in _load_error(policy_copy)


def test_data_document_colliding_with_a_package_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "broker.json").write_text('{"decision": {"allow": true}}')
    (policy_copy / "broker.schema.json").write_text('{"type": "object"}')
    assert "conflicting rule for data path broker/decision" in _load_error(policy_copy)


def test_invalid_json_names_the_file(policy_copy: Path) -> None:
    (policy_copy / "agencies.json").write_text('{"us-fbi": {"name": "FBI",}}')
    assert "agencies.json: invalid JSON at line 1" in _load_error(policy_copy)


def test_repeated_key_is_an_error(policy_copy: Path) -> None:
    """A second entry under one id would silently replace the first."""
    text = (policy_copy / "agreements.json").read_text()
    first = text.index('"us-cl-pcsc"')
    end = text.index('"us-cl-face-pilot"')
    entry = text[first:end].rstrip().rstrip(",")
    (policy_copy / "agreements.json").write_text(text.replace(entry, entry + ",\n" + entry, 1))
    assert "agreements.json: key 'us-cl-pcsc' appears twice" in _load_error(policy_copy)


def test_nan_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "extra.json").write_text('{"x": NaN}')
    assert "extra.json: NaN is not a JSON number" in _load_error(policy_copy)


def test_non_utf8_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "latin1.rego").write_bytes(b"package broker.x\n\n# Polic\xeda\n")
    assert "latin1.rego: not UTF-8" in _load_error(policy_copy)


def test_data_violating_its_schema_names_file_and_field(policy_copy: Path) -> None:
    path = policy_copy / "agreements.json"
    agreements = json.loads(path.read_text())
    agreements["us-cl-pcsc"]["max_results"] = "5"
    path.write_text(json.dumps(agreements))
    message = _load_error(policy_copy)
    assert message.startswith("agreements.json: us-cl-pcsc/max_results:")


def test_misspelt_field_is_refused_by_the_schema(policy_copy: Path) -> None:
    path = policy_copy / "jurisdictions.json"
    jurisdictions = json.loads(path.read_text())
    riverton = jurisdictions["US-OR-RIVERTON"]
    riverton["forbiden_purposes"] = riverton.pop("forbidden_purposes")
    path.write_text(json.dumps(jurisdictions))
    assert "jurisdictions.json: US-OR-RIVERTON" in _load_error(policy_copy)


def test_document_without_its_schema_is_an_error(policy_copy: Path) -> None:
    """A data document no schema checks could carry any typo into a decision."""
    (policy_copy / "offences.schema.json").unlink()
    message = _load_error(policy_copy)
    assert message.startswith("offences.json: no schema offences.schema.json")


def test_schema_without_its_document_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "agencies.json").unlink()
    assert "agencies.schema.json: no agencies.json to validate" in _load_error(policy_copy)


def test_documents_that_disagree_are_refused(policy_copy: Path) -> None:
    """A misspelt forbidden purpose passes the schema but would forbid nothing."""
    path = policy_copy / "jurisdictions.json"
    jurisdictions = json.loads(path.read_text())
    jurisdictions["US-OR-RIVERTON"]["forbidden_purposes"] = ["immigration_enforcment"]
    path.write_text(json.dumps(jurisdictions))
    message = _load_error(policy_copy)
    assert "immigration_enforcment is not a known purpose" in message


def test_dangling_symlink_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "gone.rego").symlink_to(policy_copy / "nowhere.rego")
    assert "gone.rego: a symbolic link to nothing" in _load_error(policy_copy)


def test_subdirectory_with_a_policy_name_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "nested.rego").mkdir()
    assert "nested.rego: not a regular file" in _load_error(policy_copy)


def test_oversized_file_is_an_error(policy_copy: Path) -> None:
    (policy_copy / "huge.json").write_bytes(b" " * (MAX_FILE_BYTES + 1))
    assert f"huge.json: larger than {MAX_FILE_BYTES} bytes" in _load_error(policy_copy)


def test_directory_without_modules_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "purposes.json").write_text("{}")
    assert "no Rego modules" in _load_error(tmp_path)


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert "cannot list the bundle" in _load_error(tmp_path / "absent")
