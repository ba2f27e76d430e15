"""The local server's Conversations endpoints over real HTTP on loopback: every answer and every
streamed event validates against the official spec, each of the ten event types appears where it
should, function calls, built-in tools and handoffs behave as docs/local-server.md says, and the
conversation store keeps what was said."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2
import jsonschema
import pytest

from mistral_client.server import EngineBusy, Finish, LocalServer, Prompt, TemplateEngine
from tests.support.conversations import (
    BUILT_INS,
    CONVERSATIONS,
    MODEL,
    SSE_TYPES,
    WEATHER,
    agent,
    answer,
    problem,
    stream,
    text,
    types,
)
from tests.support.openapi import conforms

START = {"model": MODEL, "inputs": "What is the weather in Paris?"}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def without_ids(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outputs less what differs between two runs of the same turn: ids and times."""
    return [{k: v for k, v in o.items() if k not in ("id", "created_at", "completed_at")} for o in outputs]


# --- Text ------------------------------------------------------------------------------------------


def test_a_plain_answer_is_one_message_output(client: httpx2.Client) -> None:
    document = answer(client, CONVERSATIONS, START, **{"x-mock-tokens": "6"})
    (output,) = document["outputs"]
    assert output["type"] == "message.output" and output["model"] == MODEL and output["agent_id"] is None
    assert document["conversation_id"].startswith("conv_") and output["id"].startswith("msg_")
    assert isinstance(output["content"], str) and output["content"].endswith(".")
    assert document["usage"]["completion_tokens"] == 6
    assert document["usage"]["total_tokens"] == document["usage"]["prompt_tokens"] + 6


def test_a_stream_sends_one_delta_per_token_between_started_and_done(client: httpx2.Client) -> None:
    events = stream(client, CONVERSATIONS, START, **{"x-mock-tokens": "6"})
    assert types(events) == [
        "conversation.response.started",
        *["message.output.delta"] * 6,
        "conversation.response.done",
    ]
    started, done = events[0][1], events[-1][1]
    deltas = [data for _, data in events[1:-1]]
    assert {d["id"] for d in deltas} == {deltas[0]["id"]} and {d["output_index"] for d in deltas} == {0}
    assert {d["content_index"] for d in deltas} == {0} and all(d["model"] == MODEL for d in deltas)
    assert done["usage"]["completion_tokens"] == 6
    whole = answer(client, CONVERSATIONS, START, **{"x-mock-tokens": "6"})
    assert text(events) == whole["outputs"][0]["content"]  # the same turn, streamed or not
    # The streamed turn is stored under the id the stream started with.
    history = client.get(f"{CONVERSATIONS}/{started['conversation_id']}/history").json()
    assert [e["type"] for e in history["entries"]] == ["message.input", "message.output"]
    assert history["entries"][1]["content"] == text(events)


def test_the_answer_follows_completion_args(client: httpx2.Client) -> None:
    short = answer(client, CONVERSATIONS, {**START, "completion_args": {"max_tokens": 3}})
    assert short["usage"]["completion_tokens"] == 3
    seeded = [answer(client, CONVERSATIONS, {**START, "completion_args": {"random_seed": s}}) for s in (1, 1, 2)]
    texts = [d["outputs"][0]["content"] for d in seeded]
    assert texts[0] == texts[1] != texts[2]


def test_json_when_completion_args_ask_for_it(client: httpx2.Client) -> None:
    schema = WEATHER["function"]["parameters"]
    response_format = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema}}
    document = answer(client, CONVERSATIONS, {**START, "completion_args": {"response_format": response_format}})
    jsonschema.validate(json.loads(document["outputs"][0]["content"]), schema)
    plain_json = {**START, "completion_args": {"response_format": {"type": "json_object"}}}
    events = stream(client, CONVERSATIONS, plain_json)
    assert isinstance(json.loads(text(events)), dict) and types(events).count("message.output.delta") > 3


def test_a_reasoning_model_thinks_first(client: httpx2.Client) -> None:
    body = {**START, "model": "magistral-small-latest"}
    events = stream(client, CONVERSATIONS, body, **{"x-mock-tokens": "5"})
    deltas = [d for n, d in events if n == "message.output.delta"]
    thinking = [d for d in deltas if isinstance(d["content"], dict)]
    assert thinking and all(d["content"]["type"] == "thinking" and d["content_index"] == 0 for d in thinking)
    assert deltas[: len(thinking)] == thinking  # all of it before the answer
    assert {d["content_index"] for d in deltas[len(thinking) :]} == {1} and len(deltas) - len(thinking) == 5
    assert events[-1][1]["usage"]["completion_tokens"] == len(deltas)
    content = answer(client, CONVERSATIONS, body, **{"x-mock-tokens": "5"})["outputs"][0]["content"]
    assert [c["type"] for c in content] == ["thinking", "text"]
    assert content[0]["thinking"][0]["text"] == "".join(d["content"]["thinking"][0]["text"] for d in thinking)
    assert content[1]["text"] == text(events)


# --- Function calls --------------------------------------------------------------------------------


def test_a_function_tool_is_called_then_its_result_answered(client: httpx2.Client) -> None:
    first = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    (call,) = first["outputs"]
    assert call["type"] == "function.call" and call["name"] == "get_weather" and call["id"].startswith("fc_")
    arguments = json.loads(call["arguments"])
    assert set(arguments) >= {"city", "unit"} and arguments["unit"] in ("celsius", "fahrenheit")
    assert len(call["tool_call_id"]) == 9 and call["tool_call_id"].isalnum()
    result = {"type": "function.result", "tool_call_id": call["tool_call_id"], "result": '{"temperature": 21}'}
    second = answer(client, f"{CONVERSATIONS}/{first['conversation_id']}", {"inputs": [result]})
    (message,) = second["outputs"]
    assert message["type"] == "message.output" and message["content"]
    assert second["conversation_id"] == first["conversation_id"]
    history = client.get(f"{CONVERSATIONS}/{first['conversation_id']}/history").json()
    conforms("ConversationHistory", history)
    assert [e["type"] for e in history["entries"]] == [
        "message.input",
        "function.call",
        "function.result",
        "message.output",
    ]
    messages = client.get(f"{CONVERSATIONS}/{first['conversation_id']}/messages").json()
    conforms("ConversationMessages", messages)
    assert [m["type"] for m in messages["messages"]] == ["message.input", "message.output"]


def test_each_function_tool_is_called_in_turn_then_the_answer_comes(client: httpx2.Client) -> None:
    search = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    made = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER, search]})
    path, rounds = f"{CONVERSATIONS}/{made['conversation_id']}", []
    outputs = made["outputs"]
    while outputs[-1]["type"] == "function.call":
        call = outputs[-1]
        rounds.append(call["name"])
        result = {"type": "function.result", "tool_call_id": call["tool_call_id"], "result": "ok"}
        outputs = answer(client, path, {"inputs": [result]})["outputs"]
        assert len(rounds) < 5
    assert rounds == ["get_weather", "search"] and outputs[-1]["type"] == "message.output"
    # A new question starts the round again.
    again = answer(client, path, {"inputs": "And in Lyon?"})["outputs"]
    assert again[-1]["type"] == "function.call" and again[-1]["name"] == "get_weather"


def test_the_functions_a_question_names_are_called_together(client: httpx2.Client) -> None:
    search = {"type": "function", "function": {"name": "search_docs", "parameters": {"type": "object"}}}
    body = {"model": MODEL, "inputs": "Use get_weather and search docs", "tools": [WEATHER, search]}
    events = stream(client, CONVERSATIONS, body)
    calls = {
        (d["output_index"], d["name"], d["tool_call_id"], d["id"]) for n, d in events if n == "function.call.delta"
    }
    assert sorted((index, name) for index, name, _, _ in calls) == [(0, "get_weather"), (1, "search_docs")]
    assert len({call_id for _, _, call_id, _ in calls}) == len({entry for _, _, _, entry in calls}) == 2
    made = answer(client, CONVERSATIONS, body)
    first, second = made["outputs"]
    path = f"{CONVERSATIONS}/{made['conversation_id']}"
    one = {"type": "function.result", "tool_call_id": first["tool_call_id"], "result": "ok"}
    assert second["tool_call_id"] in problem(client.post(path, json={"inputs": [one]}), 400)["message"]
    both = [one, {**one, "tool_call_id": second["tool_call_id"]}]
    assert [o["type"] for o in answer(client, path, {"inputs": both})["outputs"]] == ["message.output"]


def test_a_streamed_function_call_comes_in_argument_pieces(client: httpx2.Client) -> None:
    events = stream(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    assert types(events)[0] == "conversation.response.started" and types(events)[-1] == "conversation.response.done"
    deltas = [data for name, data in events if name == "function.call.delta"]
    assert len(deltas) > 5 and len(deltas) == len(events) - 2
    assert {(d["id"], d["name"], d["tool_call_id"]) for d in deltas} == {
        (deltas[0]["id"], "get_weather", deltas[0]["tool_call_id"])
    }
    assert json.loads("".join(d["arguments"] for d in deltas))["city"]
    whole = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    assert "".join(d["arguments"] for d in deltas) == whole["outputs"][0]["arguments"]


def test_tool_choice_none_answers_in_text(client: httpx2.Client) -> None:
    document = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER], "completion_args": {"tool_choice": "none"}})
    assert [o["type"] for o in document["outputs"]] == ["message.output"]


# --- Built-in tools --------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", BUILT_INS, ids=[t["type"] for t in BUILT_INS])
def test_a_built_in_tool_runs_then_the_answer_shows_what_it_found(client: httpx2.Client, tool: dict[str, Any]) -> None:
    events = stream(client, CONVERSATIONS, {**START, "tools": [tool]})
    names = types(events)
    assert names[:2] == ["conversation.response.started", "tool.execution.started"]
    assert names.index("tool.execution.done") < names.index("message.output.delta")
    started = events[1][1]
    assert started["name"] == tool["type"] and started["id"].startswith("tool_exec_")
    arguments = "".join(d["arguments"] for n, d in events if n == "tool.execution.delta")
    assert json.loads(arguments)  # the tool's arguments, in pieces
    done = events[-1][1]
    assert done["usage"]["connectors"] == {tool["type"]: 1}
    whole = answer(client, CONVERSATIONS, {**START, "tools": [tool]})
    execution, message = whole["outputs"]
    assert execution["type"] == "tool.execution" and execution["name"] == tool["type"]
    assert execution["arguments"] == arguments and execution["info"]
    chunks = message["content"]
    if tool["type"] == "code_interpreter":
        assert isinstance(chunks, str)
        code, output = execution["info"]["code"], execution["info"]["code_output"]
        count = int(code.removeprefix("print(sum(range(").removesuffix(")))"))
        assert output == f"{sum(range(count))}\n"  # what running the code prints
    else:
        kinds = [c["type"] for c in chunks]
        assert kinds[0] == kinds[-1] == "text"
        found = "tool_file" if tool["type"] == "image_generation" else "tool_reference"
        assert found in kinds and all(c["tool"] == tool["type"] for c in chunks if c["type"] == found)
        # The streamed message moves to a new content index for each chunk the tool found.
        indexes = [d["content_index"] for n, d in events if n == "message.output.delta"]
        assert indexes == sorted(indexes) and indexes[-1] == len(kinds) - 1


def test_a_connector_runs_under_its_id(client: httpx2.Client) -> None:
    connector = {"type": "connector", "connector_id": "crm"}
    events = stream(client, CONVERSATIONS, {**START, "tools": [connector]})
    assert {d["name"] for n, d in events if n.startswith("tool.execution")} == {"crm"}
    assert events[-1][1]["usage"]["connectors"] == {"crm": 1}


def test_built_in_and_function_tools_together(client: httpx2.Client) -> None:
    document = answer(client, CONVERSATIONS, {**START, "tools": [{"type": "web_search"}, WEATHER]})
    assert [o["type"] for o in document["outputs"]] == ["tool.execution", "function.call"]
    assert [o.get("output_index") for o in document["outputs"]] == [None, None]  # entries carry no index


# --- Agents and handoffs ---------------------------------------------------------------------------


def test_an_agent_answers_with_its_model_instructions_and_tools(client: httpx2.Client) -> None:
    helper = agent(client, instructions="Answer in French", tools=[WEATHER])
    document = answer(client, CONVERSATIONS, {"agent_id": helper["id"], "inputs": "Weather in Paris?"})
    (call,) = document["outputs"]
    assert call["type"] == "function.call" and call["agent_id"] == helper["id"] and call["model"] == MODEL
    shown = client.get(f"{CONVERSATIONS}/{document['conversation_id']}").json()
    conforms("AgentConversation", shown)
    assert shown["agent_id"] == helper["id"] and "model" not in shown
    plain = agent(client)
    with_instructions = agent(client, instructions="Answer in French")
    texts = [
        answer(client, CONVERSATIONS, {"agent_id": a["id"], "inputs": "Hi"})["outputs"][0]["content"]
        for a in (plain, with_instructions)
    ]
    assert texts[0] != texts[1]  # the instructions are part of the prompt


def test_an_agent_with_handoffs_hands_off(client: httpx2.Client) -> None:
    expert = agent(client, name="expert")
    triage = agent(client, name="triage", handoffs=[expert["id"]])
    events = stream(client, CONVERSATIONS, {"agent_id": triage["id"], "inputs": "Help"})
    names = types(events)
    assert names[1:3] == ["agent.handoff.started", "agent.handoff.done"]
    started, done = events[1][1], events[2][1]
    assert (started["previous_agent_id"], started["previous_agent_name"]) == (triage["id"], "triage")
    assert (done["next_agent_id"], done["next_agent_name"]) == (expert["id"], "expert")
    assert started["id"] == done["id"]
    messages = [d for n, d in events if n == "message.output.delta"]
    assert messages and {d["agent_id"] for d in messages} == {expert["id"]} and messages[0]["output_index"] == 1
    whole = answer(client, CONVERSATIONS, {"agent_id": triage["id"], "inputs": "Help"})
    handoff, message = whole["outputs"]
    assert handoff["type"] == "agent.handoff" and handoff["next_agent_id"] == expert["id"]
    assert message["agent_id"] == expert["id"]


def test_client_side_handoff_execution_ends_the_turn_at_the_handoff(client: httpx2.Client) -> None:
    expert = agent(client, name="expert")
    triage = agent(client, name="triage", handoffs=[expert["id"]])
    body = {"agent_id": triage["id"], "inputs": "Help", "handoff_execution": "client"}
    events = stream(client, CONVERSATIONS, body)
    assert types(events) == [
        "conversation.response.started",
        "agent.handoff.started",
        "agent.handoff.done",
        "conversation.response.done",
    ]


def test_after_a_client_side_handoff_the_agent_handed_to_answers(client: httpx2.Client) -> None:
    expert = agent(client, name="expert")
    triage = agent(client, name="triage", handoffs=[expert["id"]])
    body = {"agent_id": triage["id"], "inputs": "Help", "handoff_execution": "client"}
    first = answer(client, CONVERSATIONS, body)
    assert [o["type"] for o in first["outputs"]] == ["agent.handoff"]
    second = answer(client, f"{CONVERSATIONS}/{first['conversation_id']}", {"inputs": "Go on"})
    assert [(o["type"], o["agent_id"]) for o in second["outputs"]] == [("message.output", expert["id"])]


def test_handoffs_that_loop_stop(client: httpx2.Client) -> None:
    first = agent(client, name="first")
    second = agent(client, name="second", handoffs=[first["id"]])
    client.patch(f"/v1/agents/{first['id']}", json={"handoffs": [second["id"]]}).raise_for_status()
    document = answer(client, CONVERSATIONS, {"agent_id": first["id"], "inputs": "Help"})
    assert [o["type"] for o in document["outputs"]] == ["agent.handoff", "message.output"]


def test_the_agent_that_called_a_function_answers_its_result(client: httpx2.Client) -> None:
    expert = agent(client, name="expert", tools=[WEATHER])
    triage = agent(client, name="triage", handoffs=[expert["id"]])
    first = answer(client, CONVERSATIONS, {"agent_id": triage["id"], "inputs": "Weather?"})
    handoff, call = first["outputs"]
    assert handoff["type"] == "agent.handoff"
    assert call["type"] == "function.call" and call["agent_id"] == expert["id"]
    result = {"tool_call_id": call["tool_call_id"], "result": "sunny"}  # "type" left to its default
    second = answer(client, f"{CONVERSATIONS}/{first['conversation_id']}", {"inputs": [result]})
    assert [(o["type"], o["agent_id"]) for o in second["outputs"]] == [("message.output", expert["id"])]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"tools": [WEATHER]},
        {"tools": BUILT_INS},
        {"model": "magistral-small-latest"},
        {"completion_args": {"response_format": {"type": "json_object"}}},
    ],
    ids=["text", "function", "built-ins", "reasoning", "json"],
)
def test_a_streamed_turn_and_a_whole_one_agree(client: httpx2.Client, fields: dict[str, Any]) -> None:
    body = {**START, **fields}
    whole = answer(client, CONVERSATIONS, body)
    events = stream(client, CONVERSATIONS, body)
    history = client.get(f"{CONVERSATIONS}/{events[0][1]['conversation_id']}/history").json()
    assert without_ids(history["entries"][1:]) == without_ids(whole["outputs"])
    assert events[-1][1]["usage"] == whole["usage"]


# --- Every event type ------------------------------------------------------------------------------


def test_every_event_type_of_the_spec_is_sent(client: httpx2.Client) -> None:
    expert = agent(client, name="expert", tools=[*BUILT_INS, WEATHER])
    triage = agent(client, name="triage", handoffs=[expert["id"]])
    seen = set(types(stream(client, CONVERSATIONS, {"agent_id": triage["id"], "inputs": "Go"})))
    seen |= set(types(stream(client, CONVERSATIONS, START)))
    seen |= set(types(stream(client, CONVERSATIONS, START, **{"x-mock-error-event-after": "1"})))
    assert seen == SSE_TYPES


# --- The store -------------------------------------------------------------------------------------


def test_get_list_and_delete(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "name": "weather", "metadata": {"team": "a"}})
    conversation_id = made["conversation_id"]
    shown = client.get(f"{CONVERSATIONS}/{conversation_id}").json()
    conforms("ModelConversation", shown)
    assert shown["id"] == conversation_id and shown["model"] == MODEL and shown["name"] == "weather"
    assert shown["metadata"] == {"team": "a"}
    newest = answer(client, CONVERSATIONS, START)["conversation_id"]
    listed = client.get(CONVERSATIONS, params={"page_size": 2}).json()
    assert [c["id"] for c in listed] == [newest, conversation_id]  # newest first
    for item in listed:
        conforms("ModelConversation", item)
    assert client.delete(f"{CONVERSATIONS}/{conversation_id}").status_code == 204
    problem(client.get(f"{CONVERSATIONS}/{conversation_id}"), 404)


def test_store_false_keeps_nothing(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "store": False})
    problem(client.get(f"{CONVERSATIONS}/{made['conversation_id']}"), 404)
    kept = answer(client, CONVERSATIONS, START)
    path = f"{CONVERSATIONS}/{kept['conversation_id']}"
    answer(client, path, {"inputs": "And tomorrow?", "store": False})
    assert len(client.get(f"{path}/history").json()["entries"]) == 2


def test_append_goes_on_from_the_history(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, START)
    path = f"{CONVERSATIONS}/{made['conversation_id']}"
    follow = stream(client, path, {"inputs": [{"role": "user", "content": "And tomorrow?"}]})
    assert follow[0][1]["conversation_id"] == made["conversation_id"]
    entries = client.get(f"{path}/history").json()["entries"]
    assert [e["type"] for e in entries] == ["message.input", "message.output"] * 2
    assert entries[2]["content"] == "And tomorrow?" and entries[3]["content"] == text(follow)


def test_restart_makes_a_new_conversation_from_an_entry(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, START)
    path = f"{CONVERSATIONS}/{made['conversation_id']}"
    answer(client, path, {"inputs": "And tomorrow?"})
    first_answer = made["outputs"][0]["id"]
    again = answer(client, f"{path}/restart", {"from_entry_id": first_answer, "inputs": "And in Lyon?"})
    assert again["conversation_id"] != made["conversation_id"]
    entries = client.get(f"{CONVERSATIONS}/{again['conversation_id']}/history").json()["entries"]
    assert [e["id"] for e in entries[:2]] == [client.get(f"{path}/history").json()["entries"][0]["id"], first_answer]
    assert entries[2]["content"] == "And in Lyon?" and len(entries) == 4
    events = stream(client, f"{path}/restart", {"from_entry_id": first_answer, "inputs": "And in Nice?"})
    assert events[0][1]["conversation_id"] not in (made["conversation_id"], again["conversation_id"])
    assert len(client.get(f"{path}/history").json()["entries"]) == 4  # the original is left as it was


# --- Bad input -------------------------------------------------------------------------------------


def test_no_inputs_is_a_422(client: httpx2.Client) -> None:
    body = problem(client.post(CONVERSATIONS, json={"model": MODEL}), 422)
    assert body["detail"][0]["loc"] == ["body", "inputs"] and body["detail"][0]["type"] == "missing"
    made = answer(client, CONVERSATIONS, START)
    body = problem(client.post(f"{CONVERSATIONS}/{made['conversation_id']}", json={}), 422)
    assert body["detail"][0]["loc"] == ["body", "inputs"]


@pytest.mark.parametrize("fields", [{}, {"model": MODEL, "agent_id": "ag_1"}], ids=["neither", "both"])
def test_model_and_agent_id_exactly_one(client: httpx2.Client, fields: dict[str, Any]) -> None:
    body = problem(client.post(CONVERSATIONS, json={"inputs": "Hi", **fields}), 422)
    assert "model" in body["detail"][0]["msg"] and "agent_id" in body["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("DELETE", "", None),
        ("GET", "/history", None),
        ("GET", "/messages", None),
        ("POST", "", {"inputs": "Hi"}),
        ("POST", "", {"inputs": "Hi", "stream": True}),
        ("POST", "/restart", {"from_entry_id": "msg_1", "inputs": "Hi"}),
    ],
)
def test_an_unknown_conversation_is_a_404(client: httpx2.Client, method: str, suffix: str, body: Any) -> None:
    response = client.request(method, f"{CONVERSATIONS}/conv_unknown{suffix}", json=body)
    assert "conv_unknown" in problem(response, 404)["message"]


def test_tool_confirmations_are_a_400(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    call_id = made["outputs"][0]["tool_call_id"]
    confirm = {"tool_confirmations": [{"tool_call_id": call_id, "confirmation": "allow"}]}
    message = problem(client.post(f"{CONVERSATIONS}/{made['conversation_id']}", json=confirm), 400)["message"]
    assert call_id in message and "confirmation" in message


def test_appending_past_a_waiting_function_call_is_a_400(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    path = f"{CONVERSATIONS}/{made['conversation_id']}"
    call_id = made["outputs"][0]["tool_call_id"]
    message = problem(client.post(path, json={"inputs": "Never mind"}), 400)["message"]
    assert call_id in message and "function.result" in message
    stranger = {"type": "function.result", "tool_call_id": "AAAAAAAAA", "result": "x"}
    assert "AAAAAAAAA" in problem(client.post(path, json={"inputs": [stranger]}), 400)["message"]
    result = {"type": "function.result", "tool_call_id": call_id, "result": "x"}
    assert "already" in problem(client.post(path, json={"inputs": [result, result]}), 400)["message"]
    assert len(client.get(f"{path}/history").json()["entries"]) == 2  # refused: nothing added


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"agent_id": "ag_unknown", "inputs": "Hi"}, 404),
        ({"model": "no-such-model", "inputs": "Hi"}, 400),
        ({**START, "temperature": 0.5}, 422),  # a chat field, not a conversation's
        ({**START, "completion_args": {"temperature": 3}}, 422),
        ({**START, "inputs": [{"type": "message.input", "role": "system", "content": "x"}]}, 422),
        ({**START, "tools": [{"type": "document_library"}]}, 422),
    ],
)
def test_bad_requests(client: httpx2.Client, body: dict[str, Any], status: int) -> None:
    problem(client.post(CONVERSATIONS, json=body), status)


def test_restarting_after_a_call_without_its_result_is_a_400(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "tools": [WEATHER]})
    call = made["outputs"][0]
    path = f"{CONVERSATIONS}/{made['conversation_id']}/restart"
    assert call["tool_call_id"] in problem(client.post(path, json={"from_entry_id": call["id"]}), 400)["message"]
    result = {"type": "function.result", "tool_call_id": call["tool_call_id"], "result": "ok"}
    again = answer(client, path, {"from_entry_id": call["id"], "inputs": [result]})
    assert [o["type"] for o in again["outputs"]] == ["message.output"]


def test_restart_from_an_unknown_entry_is_a_404(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, START)
    response = client.post(f"{CONVERSATIONS}/{made['conversation_id']}/restart", json={"from_entry_id": "msg_nope"})
    assert "msg_nope" in problem(response, 404)["message"]


@pytest.mark.parametrize("fields", [{"instructions": "Be terse"}, {"tools": [WEATHER]}], ids=["instructions", "tools"])
def test_instructions_or_tools_with_an_agent_are_a_400(client: httpx2.Client, fields: dict[str, Any]) -> None:
    helper = agent(client)
    body = {"agent_id": helper["id"], "inputs": "Hi", **fields}
    assert "agent_id" in problem(client.post(CONVERSATIONS, json=body), 400)["message"]


# --- Another engine --------------------------------------------------------------------------------


@dataclass
class ThreadedEngine(TemplateEngine):
    """The deterministic text, from an engine that says it computes for long (as a real model does)."""

    blocking: ClassVar[bool] = True
    threads: list[str] = field(default_factory=list)

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        for item in super().generate(prompt):
            self.threads.append(threading.current_thread().name)
            yield item


class FullEngine(TemplateEngine):
    """A real model's queue, full."""

    blocking: ClassVar[bool] = True

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        raise EngineBusy(retry_after=2)


def test_a_blocking_engine_writes_the_text_off_the_event_loop() -> None:
    engine = ThreadedEngine()
    with LocalServer(engine=engine) as server, httpx2.Client(base_url=server.base_url) as client:
        events = stream(client, CONVERSATIONS, START, **{"x-mock-tokens": "4"})
        document = answer(client, CONVERSATIONS, START, **{"x-mock-tokens": "4"})
    assert text(events) == document["outputs"][0]["content"] and types(events).count("message.output.delta") == 4
    assert engine.threads and not any(name.startswith("LocalServer") for name in engine.threads)


def test_a_full_engine_is_a_429_or_an_error_event() -> None:
    with LocalServer(engine=FullEngine()) as server, httpx2.Client(base_url=server.base_url) as client:
        refused = client.post(CONVERSATIONS, json=START)
        assert problem(refused, 429)["type"] == "rate_limited" and refused.headers["retry-after"] == "2"
        events = stream(client, CONVERSATIONS, START)
    assert types(events) == ["conversation.response.started", "conversation.response.error"]
    assert events[-1][1]["code"] == 1300


@dataclass
class GatedEngine(TemplateEngine):
    """Writes its first piece, then waits until the client has seen it: the text streams as it is made."""

    blocking: ClassVar[bool] = True
    seen: threading.Event = field(default_factory=threading.Event)
    waited: list[bool] = field(default_factory=list)

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        yield "First"
        self.waited.append(self.seen.wait(timeout=10))
        yield " and last."
        yield Finish("stop")


def test_the_text_streams_as_the_engine_makes_it() -> None:
    engine = GatedEngine()
    with (
        LocalServer(engine=engine) as server,
        httpx2.Client(base_url=server.base_url) as client,
        client.stream("POST", CONVERSATIONS, json={**START, "stream": True}) as response,
    ):
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith('data: {"type":"message.output.delta"'))
        engine.seen.set()
        rest = list(lines)
    assert '"content":"First"' in first and any('"content":" and last."' in line for line in rest)
    assert engine.waited == [True]  # the first piece reached the client before the engine went on
