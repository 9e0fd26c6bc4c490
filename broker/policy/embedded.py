"""The embedded backend: the real OPA evaluator, in process (opa_bindings)."""

from __future__ import annotations

from typing import Any

from opa_bindings import OpaError, OpaUndefinedError

from broker.errors import PolicyError
from broker.models import JSON
from broker.policy.bundle import PolicyBundle
from broker.policy.compiler import compile_engine
from broker.policy.engine import DocumentEngine


class EmbeddedEngine(DocumentEngine):
    """One OPA engine holding a bundle's modules and data (not its tests).

    Thread-safe: OPA serialises evaluations on the engine's own lock. Construction compiles
    everything, so a bad bundle fails here (PolicyLoadError), never at the first request."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self._revision = bundle.revision
        self._engine = compile_engine(bundle.modules, bundle.data)

    @property
    def revision(self) -> str:
        return self._revision

    def evaluate(self, document: str, policy_input: JSON) -> Any:
        """The raw value of data.<document>: PolicyError if it is undefined or fails."""
        return self._evaluate(document, policy_input)

    def close(self) -> None:
        """Frees the native engine; later calls raise PolicyError."""
        self._engine.close()

    def _evaluate(self, document: str, policy_input: JSON) -> Any:
        try:
            return self._engine.eval_document(document, policy_input)
        except OpaUndefinedError as e:
            raise PolicyError(f"data.{document} is undefined for this input") from e
        except OpaError as e:
            raise PolicyError(f"data.{document}: {e.code}: {e.message}") from e
        except (TypeError, ValueError) as e:  # the input does not serialise to JSON
            raise PolicyError(f"data.{document}: the input is not JSON: {e}") from e
