"""Several routerd replicas as one target: parsing, the gRPC target and service config, and the errors
a malformed list gets (CLI, FDW server option)."""

from __future__ import annotations

import json

import pytest

from fdw.options import OptionError, parse_options
from routerd.cli import main
from routerd.client import BadTarget, channel_target, parse_targets


def test_parse_targets() -> None:
    assert parse_targets("127.0.0.1:1,localhost:2, [::1]:3") == [("127.0.0.1", 1), ("localhost", 2), ("::1", 3)]
    for bad in ("a", "a:", ":1", "a:0", "a:70000", "a:1,", "a:1,,b:2", "a b:1", "a/b:1", "a:x"):
        with pytest.raises(BadTarget):
            parse_targets(bad)


def test_one_address_is_passed_as_it_is() -> None:
    assert channel_target("127.0.0.1:50051") == ("127.0.0.1:50051", [])


def test_a_dns_name_of_every_replica_is_balanced() -> None:  # compose: docker compose up --scale routerd=3
    uri, options = channel_target("dns:///routerd:50051")
    assert uri == "dns:///routerd:50051"
    assert json.loads(dict(options)["grpc.service_config"])["loadBalancingConfig"] == [{"round_robin": {}}]
    assert parse_targets("dns:///routerd:50051") == [("routerd", 50051)]
    for bad in ("dns:///a:1,b:2", "dns:///a", "dns:///a/b:1"):
        with pytest.raises(BadTarget):
            parse_targets(bad)


def test_several_addresses_are_one_balanced_health_checked_channel() -> None:
    uri, options = channel_target("127.0.0.1:5001,localhost:5002")
    assert uri == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    config = json.loads(dict(options)["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    retried = {(n["service"], n.get("method")) for n in config["methodConfig"][0]["name"]}
    assert ("tinydancer.v1.Router", None) in retried and ("tinydancer.v1.Feedback", "ListOutcomes") in retried
    assert not any(m == "RecordOutcome" or (s.endswith("Feedback") and m is None) for s, m in retried)
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    with pytest.raises(BadTarget, match="cannot resolve"):
        channel_target("127.0.0.1:1,no-such-host.invalid:2")


def test_a_malformed_list_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--target", "127.0.0.1:1,oops"]) == 2
    assert "--target: 'oops' is not host:port" in capsys.readouterr().err
    with pytest.raises(OptionError) as err:
        parse_options({"target": "127.0.0.1:1,,127.0.0.1:2", "resource": "stats"})
    assert "comma-separated list" in str(err.value) and "two replicas" in (err.value.hint or "")
    assert parse_options({"target": "127.0.0.1:1,127.0.0.1:2", "resource": "stats"}).target == "127.0.0.1:1,127.0.0.1:2"
