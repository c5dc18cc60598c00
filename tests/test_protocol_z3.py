"""Z3 and the explicit explorer on the same protocol model: same shortest violations."""
from __future__ import annotations

import json

import pytest

from reapcheck.engines import bmc
from reapcheck.model.protocol import MUTANTS, Protocol, ProtocolConfig
from reapcheck.model.smaps import parse_text
from reapcheck.properties.protocol import BY_NAME
from reapcheck.traces import replay_trace, trace_json
from reapcheck.verify import verify

ONE = parse_text("1000-2000 rw-p 00000000 00:00 0\n", "one")
OPTIONS = {"blocking_read_lock": {"stuck_writer": True}}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_z3_finds_the_explorers_shortest_violation(mutant):
    config = ProtocolConfig("rev_find", mutant, **OPTIONS.get(mutant, {}))
    explicit = verify(ONE, config, "explicit")
    assert explicit.traces, "every seeded bug violates something"
    model = Protocol(ONE, config)
    for name, trace in explicit.traces.items():
        prop = BY_NAME[name]
        result = bmc.find_violation(model, lambda m, s, ops: ops.Not(prop.holds_in(m, s, ops)),
                                    len(trace), 120_000)
        assert result.status == "violated", (name, result.reason_unknown)
        assert len(result.trace) == len(trace)  # both are shortest
        steps = [(a, result.states[i], result.states[i + 1]) for i, a in enumerate(result.trace)]
        data = json.loads(json.dumps(trace_json(model, name, steps, "z3")))
        assert replay_trace(data, "z3").startswith("reproduced")


def test_z3_agrees_that_the_kernel_code_is_safe_to_a_bound():
    model = Protocol(ONE, ProtocolConfig("rev_find"))
    prop = BY_NAME["no_use_after_free"]
    result = bmc.find_violation(model, lambda m, s, ops: ops.Not(prop.holds_in(m, s, ops)),
                                10, 120_000)
    assert result.status == "holds"
