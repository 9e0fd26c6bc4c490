"""A policy bundle: the Rego modules and JSON data documents of one flat directory.

The directory is usually a Kubernetes ConfigMap mount: flat, every file a symlink into a
`..data` directory that kubelet swaps atomically on update. Reading through `..data` once
means one load sees one version of the bundle, never half of an update.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import rfc8785

from broker.errors import PolicyLoadError
from broker.policy.compiler import compile_engine

# A ConfigMap holds at most 1 MiB in total; a bigger file is not a policy we wrote, and
# reading it whole would let a stray file exhaust memory.
MAX_FILE_BYTES = 1024 * 1024

REGO_SUFFIX = ".rego"
TEST_SUFFIX = "_test.rego"
DATA_SUFFIX = ".json"
SCHEMA_SUFFIX = ".schema.json"
CONFIGMAP_DATA_LINK = "..data"


@dataclass(frozen=True)
class PolicyBundle:
    """Everything the engines load, plus its revision.

    `revision` is the SHA-256 (hex) of the RFC 8785 canonical JSON of the sorted list of
    {name, sha256} of every file that shapes decisions: modules, data documents and their
    schemas. Tests and documentation do not change it."""

    directory: Path
    modules: Mapping[str, str]
    test_modules: Mapping[str, str]
    data: Mapping[str, Any]
    revision: str

    @classmethod
    def load(cls, directory: Path, *, compile_now: bool = True) -> PolicyBundle:
        """Reads, validates and compiles a bundle. Any fault: PolicyLoadError naming the file.

        Every data document needs its schema. `compile_now=False` leaves compiling (and the
        integrity rules, which evaluate Rego) to an engine the caller can bound in time: the
        broker compiles in a worker process it can kill (broker/policy/pool.py)."""
        files = _read_files(directory)
        modules: dict[str, str] = {}
        test_modules: dict[str, str] = {}
        documents: dict[str, bytes] = {}
        schemas: dict[str, bytes] = {}
        for name, content in files.items():
            if name.endswith(TEST_SUFFIX):
                test_modules[name] = _decode(name, content)
            elif name.endswith(REGO_SUFFIX):
                modules[name] = _decode(name, content)
            elif name.endswith(SCHEMA_SUFFIX):
                schemas[name.removesuffix(SCHEMA_SUFFIX)] = content
            elif name.endswith(DATA_SUFFIX):
                documents[name.removesuffix(DATA_SUFFIX)] = content
        if not modules:
            raise PolicyLoadError(f"{directory}: no Rego modules (*.rego)")
        data = {stem: _parse_json(f"{stem}{DATA_SUFFIX}", raw) for stem, raw in documents.items()}
        for stem, raw in schemas.items():
            _validate(stem, _parse_json(f"{stem}{SCHEMA_SUFFIX}", raw), data)
        unchecked = sorted(set(data) - set(schemas))
        if unchecked:
            raise PolicyLoadError(
                f"{unchecked[0]}{DATA_SUFFIX}: no schema {unchecked[0]}{SCHEMA_SUFFIX} "
                "(every data document is checked against its schema when loaded)"
            )
        if compile_now:
            compile_engine({**modules, **test_modules}, data).close()
        return cls(
            directory=directory,
            modules=MappingProxyType(modules),
            test_modules=MappingProxyType(test_modules),
            data=MappingProxyType(data),
            revision=revision_of(_decisive(files)),
        )


def load(directory: Path) -> PolicyBundle:
    """Same as PolicyBundle.load."""
    return PolicyBundle.load(directory)


def read_revision(directory: Path) -> str:
    """The revision the bundle in `directory` would load as, without parsing or compiling it:
    cheap enough to poll every second. Raises PolicyLoadError if the files cannot be read."""
    return revision_of(_decisive(_read_files(directory)))


def _decisive(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files that shape decisions: modules, data documents and schemas, not tests."""
    return {
        name: content
        for name, content in files.items()
        if (name.endswith(REGO_SUFFIX) and not name.endswith(TEST_SUFFIX))
        or name.endswith(DATA_SUFFIX)
    }


def revision_of(files: Mapping[str, bytes]) -> str:
    """SHA-256 over the canonical listing of (name, content digest): order-independent."""
    listing = [
        {"name": name, "sha256": hashlib.sha256(content).hexdigest()}
        for name, content in sorted(files.items())
    ]
    return hashlib.sha256(rfc8785.dumps(listing)).hexdigest()


def _read_files(directory: Path) -> dict[str, bytes]:
    source = directory / CONFIGMAP_DATA_LINK
    root = source.resolve() if source.is_dir() else directory
    try:
        paths = sorted(root.iterdir())
    except OSError as e:
        raise PolicyLoadError(f"{directory}: cannot list the bundle: {e.strerror}") from e
    files: dict[str, bytes] = {}
    for path in paths:
        name = path.name
        if name.startswith(".") or not name.endswith((REGO_SUFFIX, DATA_SUFFIX)):
            continue
        files[name] = _read_file(path)
    return files


def _read_file(path: Path) -> bytes:
    name = path.name
    if path.is_symlink() and not path.exists():
        raise PolicyLoadError(f"{name}: a symbolic link to nothing")
    if not path.is_file():
        raise PolicyLoadError(f"{name}: not a regular file (a bundle is flat)")
    try:
        with path.open("rb") as stream:
            content = stream.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise PolicyLoadError(f"{name}: cannot be read: {e.strerror}") from e
    if len(content) > MAX_FILE_BYTES:
        raise PolicyLoadError(f"{name}: larger than {MAX_FILE_BYTES} bytes")
    return content


def _decode(name: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PolicyLoadError(f"{name}: not UTF-8 ({e.reason} at byte {e.start})") from e


def _parse_json(name: str, content: bytes) -> Any:
    """Strict JSON: a repeated key (which would silently drop an entry, say an agreement)
    and NaN or Infinity (which JSON does not have) are errors."""
    text = _decode(name, content)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise PolicyLoadError(f"{name}: invalid JSON at line {e.lineno}: {e.msg}") from e
    except ValueError as e:
        raise PolicyLoadError(f"{name}: {e}") from e


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"key {key!r} appears twice in one object")
        document[key] = value
    return document


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _validate(stem: str, schema: Any, data: Mapping[str, Any]) -> None:
    schema_name = f"{stem}{SCHEMA_SUFFIX}"
    if stem not in data:
        raise PolicyLoadError(f"{schema_name}: no {stem}{DATA_SUFFIX} to validate")
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(data[stem]))
    except jsonschema.exceptions.SchemaError as e:
        raise PolicyLoadError(f"{schema_name}: invalid schema: {e.message}") from e
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise PolicyLoadError(f"{stem}{DATA_SUFFIX}: {where}: {error.message}")
