"""Fail closed: what a caller gets when a part is down, and what the log keeps."""

import grpc
import pytest

from broker.client import Justification
from tests.integration.audit_reading import entries

WARRANT = Justification("criminal_investigation", "warrant", "W-7", "CASE-7")


def test_matcher_down_is_unavailable_after_the_decision_was_logged(own_env):
    client = own_env.client("fbi-investigator")
    probe = own_env.gallery.probe("us-fbi", 12, "face")
    assert client.identify(WARRANT, "face", probe).candidates
    own_env.matcher.kill()

    with pytest.raises(grpc.RpcError) as info:
        client.identify(WARRANT, "face", probe)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    decision, outcome = entries(own_env.audit_dir)[-2:]
    assert decision["kind"] == "decision"
    assert outcome["kind"] == "outcome"
    assert outcome["body"] == {"decision_seq": decision["seq"], "status": "matcher_unavailable"}
