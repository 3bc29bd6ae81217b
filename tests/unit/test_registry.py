"""Registry: validation of every declared field, writes, paging, semantic search, persistence."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from routerd.domain import AGENT_TYPES, AgentSpec, CostModel
from routerd.engine.registry import Registry
from routerd.engine.validation import COST_FIELDS
from routerd.errors import AgentExists, AgentNotFound, InvalidArgument
from routerd.model.embedders import HashingEmbedder
from routerd.store import Store, open_store
from tests.harness.engine import FakeClock, spec


def _invalid(registry: Registry, s: AgentSpec, field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as exc:
        registry.register(s)
    assert exc.value.field == field, str(exc.value)
    assert str(exc.value).startswith(f"{field}: ")
    return exc.value


# -- validation ---------------------------------------------------------------------------------------

def test_valid_agent_is_registered_and_normalised(registry: Registry, store: Store) -> None:
    rec = registry.register(spec("gpt-4o", capabilities=(" code ", "chat", "code"),
                                 metadata='{ "b": 1, "a": [1, 2] }'))
    assert rec.spec.capabilities == ("code", "chat")  # stripped, deduplicated, order kept
    assert rec.spec.metadata == '{"a":[1,2],"b":1}'  # canonical JSON
    assert store.get_agent("gpt-4o") == rec
    assert registry.get("gpt-4o") == rec


@pytest.mark.parametrize("name", ["a", "x" * 128, "org/model:v1@eu-west.2", "A_b-c"])
def test_good_names(registry: Registry, name: str) -> None:
    assert registry.register(spec(name)).name == name


def test_empty_name(registry: Registry) -> None:
    e = _invalid(registry, spec(""), "agent.name")
    assert "empty" in e.problem


def test_name_of_129_characters(registry: Registry) -> None:
    e = _invalid(registry, spec("x" * 129), "agent.name")
    assert "128" in e.problem and "129" in e.problem


@pytest.mark.parametrize("name", ["has space", " lead", "tab\tname", "-starts-with-dash", "semi;colon", "é"])
def test_name_with_bad_characters(registry: Registry, name: str) -> None:
    _invalid(registry, spec(name), "agent.name")


def test_unknown_agent_type_lists_valid_types(registry: Registry) -> None:
    e = _invalid(registry, spec("a", agent_type="robot"), "agent.agent_type")
    assert "'robot'" in e.problem
    for t in AGENT_TYPES:
        assert t in e.problem


@pytest.mark.parametrize("part", COST_FIELDS)
@pytest.mark.parametrize("value", [-0.01, -math.inf, math.inf, math.nan])
def test_bad_prices(registry: Registry, part: str, value: float) -> None:
    cost = replace(CostModel(), **{part: value})
    _invalid(registry, replace(spec("a"), cost=cost), f"agent.cost.{part}")


@pytest.mark.parametrize("part", COST_FIELDS)
def test_zero_price_is_fine(registry: Registry, part: str) -> None:
    registry.register(replace(spec("a"), cost=replace(CostModel(per_call=1.0), **{part: 0.0})))


@pytest.mark.parametrize("value", [-0.1, 1.1, math.nan, math.inf])
def test_bad_quality_prior(registry: Registry, value: float) -> None:
    _invalid(registry, spec("a", quality=value), "agent.quality_prior")


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_quality_prior_bounds_are_inclusive(registry: Registry, value: float) -> None:
    assert registry.register(spec("a", quality=value)).spec.quality_prior == value


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_bad_latency_prior(registry: Registry, value: float) -> None:
    _invalid(registry, spec("a", latency=value), "agent.latency_prior_ms")


def test_bad_typical_output_tokens(registry: Registry) -> None:
    _invalid(registry, spec("a", typical_output_tokens=-1), "agent.typical_output_tokens")


def test_oversized_metadata(registry: Registry) -> None:
    meta = json.dumps({"blob": "x" * (16 * 1024)})
    e = _invalid(registry, spec("a", metadata=meta), "agent.metadata_json")
    assert "16384" in e.problem


def test_metadata_just_under_the_limit(registry: Registry) -> None:
    meta = json.dumps({"b": "x" * (16 * 1024 - 20)}, separators=(",", ":"))
    assert len(meta.encode()) <= 16 * 1024
    registry.register(spec("a", metadata=meta))


@pytest.mark.parametrize("meta", ["{not json", "{'single': 1}", "{\"a\": 1,}"])
def test_metadata_not_json(registry: Registry, meta: str) -> None:
    e = _invalid(registry, spec("a", metadata=meta), "agent.metadata_json")
    assert "JSON" in e.problem


@pytest.mark.parametrize("meta", ["[1, 2]", "\"text\"", "3", "null"])
def test_metadata_not_an_object(registry: Registry, meta: str) -> None:
    e = _invalid(registry, spec("a", metadata=meta), "agent.metadata_json")
    assert "object" in e.problem


def test_empty_metadata_means_empty_object(registry: Registry) -> None:
    assert registry.register(spec("a", metadata="")).spec.metadata == "{}"


def test_too_many_capabilities(registry: Registry) -> None:
    _invalid(registry, spec("a", capabilities=tuple(f"c{i}" for i in range(65))), "agent.capabilities")
    registry.register(spec("b", capabilities=tuple(f"c{i}" for i in range(64))))


@pytest.mark.parametrize("cap", ["", "   ", "x" * 65])
def test_bad_capability(registry: Registry, cap: str) -> None:
    _invalid(registry, spec("a", capabilities=("ok", cap)), "agent.capabilities[1]")


def test_nothing_is_written_when_validation_fails(registry: Registry, store: Store) -> None:
    version = registry.version
    with pytest.raises(InvalidArgument):
        registry.register(spec("a", quality=2.0))
    assert store.get_agent("a") is None
    assert registry.snapshot() == (version, [])


# -- duplicates, updates, removal --------------------------------------------------------------------

def test_duplicate_registration(registry: Registry, store: Store) -> None:
    first = registry.register(spec("a", quality=0.7, capabilities=("x",)))
    with pytest.raises(AgentExists) as exc:
        registry.register(spec("a", quality=0.2, capabilities=("y",), agent_type="tool"))
    assert exc.value.field == "agent.name"
    assert registry.get("a") == first
    assert store.get_agent("a") == first
    assert len(store.list_agents()) == 1


def test_update_partial_patch(registry: Registry, store: Store, clock: FakeClock) -> None:
    registry.register(spec("a", per_1k_input=0.5, per_1k_output=1.5, per_call=0.01, per_second=0.2,
                           capabilities=("x",), quality=0.4))
    clock.advance(10)
    rec = registry.update("a", {"cost.per_call": 0.02, "quality_prior": 0.9})
    assert rec.spec.cost == CostModel(0.5, 1.5, 0.02, 0.2)
    assert rec.spec.quality_prior == 0.9
    assert rec.spec.capabilities == ("x",)  # untouched fields kept
    assert rec.updated_at == clock() and rec.created_at == clock() - 10
    assert store.get_agent("a") == rec == registry.get("a")


def test_update_whole_cost_and_capabilities(registry: Registry) -> None:
    registry.register(spec("a", per_call=1.0))
    rec = registry.update("a", {"cost": CostModel(per_1k_input_tokens=0.1), "capabilities": ("b ", "b", "c")})
    assert rec.spec.cost == CostModel(per_1k_input_tokens=0.1)
    assert rec.spec.capabilities == ("b", "c")


@pytest.mark.parametrize(("patch", "field"), [
    ({"cost.per_call": -1.0}, "agent.cost.per_call"),
    ({"quality_prior": 1.5}, "agent.quality_prior"),
    ({"latency_prior_ms": 0.0}, "agent.latency_prior_ms"),
    ({"agent_type": "robot"}, "agent.agent_type"),
    ({"metadata": "[]"}, "agent.metadata_json"),
    ({"capabilities": ("",)}, "agent.capabilities[0]"),
    ({"bogus": 1}, "update_mask"),
    ({"cost.per_token": 1.0}, "update_mask"),
    ({"name": "b"}, "update_mask"),
    # A valid change beside an invalid one: nothing of either is written.
    ({"quality_prior": 0.9, "cost.per_second": math.nan}, "agent.cost.per_second"),
])
def test_bad_update_writes_nothing(registry: Registry, store: Store, patch: dict[str, object], field: str) -> None:
    before = registry.register(spec("a", per_call=0.1, quality=0.5))
    version = registry.version
    with pytest.raises(InvalidArgument) as exc:
        registry.update("a", patch)
    assert exc.value.field == field
    assert registry.get("a") == before
    assert store.get_agent("a") == before
    assert registry.version == version


def test_update_name_message(registry: Registry) -> None:
    registry.register(spec("a"))
    with pytest.raises(InvalidArgument, match="cannot be changed"):
        registry.update("a", {"name": "b"})


def test_update_unknown_field_lists_valid_paths(registry: Registry) -> None:
    registry.register(spec("a"))
    with pytest.raises(InvalidArgument, match="cost.per_call") as exc:
        registry.update("a", {"colour": "red"})
    assert "'colour'" in exc.value.problem


def test_update_missing_agent(registry: Registry) -> None:
    with pytest.raises(AgentNotFound):
        registry.update("ghost", {"quality_prior": 0.3})


def test_set_active(registry: Registry, store: Store) -> None:
    registry.register(spec("a"))
    assert registry.set_active("a", False).spec.active is False
    assert store.get_agent("a").spec.active is False  # type: ignore[union-attr]
    assert registry.set_active("a", True).spec.active is True


def test_remove_then_get(registry: Registry, store: Store) -> None:
    registry.register(spec("a"))
    registry.register(spec("b"))
    assert registry.remove("a").name == "a"
    with pytest.raises(AgentNotFound):
        registry.get("a")
    assert store.get_agent("a") is None
    assert [r.name for r in registry.snapshot()[1]] == ["b"]
    with pytest.raises(AgentNotFound):
        registry.remove("a")
    registry.register(spec("a", quality=0.9))  # the name is free again
    assert registry.get("a").spec.quality_prior == 0.9


def test_clear(registry: Registry, store: Store) -> None:
    for n in "abc":
        registry.register(spec(n))
    assert registry.clear() == 3
    assert registry.snapshot()[1] == [] and store.list_agents() == []


def test_version_grows_on_every_change(registry: Registry) -> None:
    seen = [registry.version]
    registry.register(spec("a"))
    seen.append(registry.version)
    registry.update("a", {"quality_prior": 0.1})
    seen.append(registry.version)
    registry.set_active("a", False)
    seen.append(registry.version)
    registry.remove("a")
    seen.append(registry.version)
    assert seen == sorted(set(seen))


# -- listing and paging ------------------------------------------------------------------------------

@pytest.fixture
def mixed(registry: Registry) -> Registry:
    registry.register(spec("coder", capabilities=("code", "chat")))
    registry.register(spec("painter", agent_type="vision", capabilities=("image",)))
    registry.register(spec("calc", agent_type="tool", capabilities=("math",), active=False))
    registry.register(spec("chatty", capabilities=("chat",), active=False))
    return registry


def _names(page: tuple[list, str]) -> list[str]:
    return [r.name for r in page[0]]


def test_list_filters(mixed: Registry) -> None:
    assert _names(mixed.list_page()) == ["calc", "chatty", "coder", "painter"]
    assert _names(mixed.list_page(capability="chat")) == ["chatty", "coder"]
    assert _names(mixed.list_page(capability="nothing")) == []
    assert _names(mixed.list_page(agent_type="llm")) == ["chatty", "coder"]
    assert _names(mixed.list_page(agent_type="vision")) == ["painter"]
    assert _names(mixed.list_page(active=True)) == ["coder", "painter"]
    assert _names(mixed.list_page(active=False)) == ["calc", "chatty"]
    assert _names(mixed.list_page(capability="chat", agent_type="llm", active=True)) == ["coder"]


def test_list_bad_arguments(mixed: Registry) -> None:
    with pytest.raises(InvalidArgument) as exc:
        mixed.list_page(agent_type="robot")
    assert exc.value.field == "agent_type"
    for size in (-1, 1001):
        with pytest.raises(InvalidArgument) as exc:
            mixed.list_page(page_size=size)
        assert exc.value.field == "page_size"


def test_paging_250_agents(registry: Registry) -> None:
    names = {f"agent-{i:03d}" for i in range(250)}
    for n in sorted(names, reverse=True):
        registry.register(spec(n))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = registry.list_page(page_size=100, page_token=token)
        pages += 1
        seen += [r.name for r in page]
        if not token:
            break
    assert pages == 3
    assert len(seen) == 250 and set(seen) == names
    assert seen == sorted(seen)


def test_paging_with_filter_and_exact_fit(registry: Registry) -> None:
    for i in range(10):
        registry.register(spec(f"a{i}", capabilities=("even",) if i % 2 == 0 else ("odd",)))
    page, token = registry.list_page(capability="even", page_size=5)
    assert _names((page, token)) == ["a0", "a2", "a4", "a6", "a8"]
    assert token == ""  # exactly one full page: no next token
    page, token = registry.list_page(capability="odd", page_size=2)
    page2, token2 = registry.list_page(capability="odd", page_size=2, page_token=token)
    page3, token3 = registry.list_page(capability="odd", page_size=2, page_token=token2)
    assert _names((page + page2 + page3, "")) == ["a1", "a3", "a5", "a7", "a9"] and token3 == ""


def test_default_page_size_is_100(registry: Registry) -> None:
    for i in range(101):
        registry.register(spec(f"a{i:03d}"))
    page, token = registry.list_page()
    assert len(page) == 100 and token


@pytest.mark.parametrize("token", ["!!!!", "$$", "a", "not a token", "zzzz", "AA=="])
def test_bad_page_token(mixed: Registry, token: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        mixed.list_page(page_token=token)
    assert exc.value.field == "page_token"


# -- semantic search ---------------------------------------------------------------------------------

def test_find_by_capability_ranks_by_meaning(registry: Registry) -> None:
    registry.register(spec("painter", agent_type="vision", capabilities=("image generation",)))
    registry.register(spec("coder", capabilities=("python coding",)))
    registry.register(spec("translator", capabilities=("french translation",)))
    ranked = registry.find_by_capability("write python code")
    assert [r.name for r, _ in ranked][0] == "coder"
    sims = dict((r.name, s) for r, s in ranked)
    assert sims["coder"] > sims["painter"]
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in sims.values())


def test_find_by_capability_limit_and_active_only(registry: Registry) -> None:
    registry.register(spec("coder", capabilities=("python coding",), active=False))
    registry.register(spec("painter", agent_type="vision", capabilities=("image generation",)))
    registry.register(spec("other", capabilities=("python scripts",)))
    assert len(registry.find_by_capability("python", limit=1)) == 1
    assert "coder" not in [r.name for r, _ in registry.find_by_capability("python", active_only=True)]
    assert "coder" in [r.name for r, _ in registry.find_by_capability("python")]


def test_find_by_capability_bad_input(registry: Registry) -> None:
    assert registry.find_by_capability("anything") == []
    with pytest.raises(InvalidArgument) as exc:
        registry.find_by_capability("   ")
    assert exc.value.field == "capability"
    with pytest.raises(InvalidArgument) as exc:
        registry.find_by_capability("x", limit=-1)
    assert exc.value.field == "limit"


# -- persistence -------------------------------------------------------------------------------------

def test_a_new_registry_sees_the_agents(registry: Registry, store: Store, embedder: HashingEmbedder,
                                        clock: FakeClock, db_path: object) -> None:
    registry.register(spec("a", per_1k_input=0.5, capabilities=("x", "y"), metadata='{"k": "v"}'))
    registry.register(spec("b", agent_type="tool", active=False))
    registry.update("a", {"cost.per_call": 0.25})
    registry.remove("b")
    registry.register(spec("c", quality=0.8))
    expected = registry.snapshot()[1]

    again = Registry(store, embedder, clock)
    assert again.snapshot()[1] == expected

    other = open_store(f"sqlite://{db_path}")  # a fresh connection to the same file
    try:
        assert Registry(other, embedder, clock).snapshot()[1] == expected
    finally:
        other.close()


@pytest.mark.parametrize(("patch", "field"), [
    ({"cost.per_call": None}, "agent.cost.per_call"),
    ({"cost.per_call": "abc"}, "agent.cost.per_call"),
    ({"quality_prior": True}, "agent.quality_prior"),
    ({"typical_output_tokens": 1.5}, "agent.typical_output_tokens"),
    ({"capabilities": "coding"}, "agent.capabilities"),
    ({"active": "yes"}, "agent.active"),
])
def test_update_rejects_values_of_the_wrong_type(registry: Registry, patch: dict[str, object], field: str) -> None:
    registry.register(AgentSpec("typed", "llm"))
    with pytest.raises(InvalidArgument) as info:
        registry.update("typed", patch)
    assert info.value.field == field
    assert registry.get("typed").spec == AgentSpec("typed", "llm")
