"""What the Agents and Conversations endpoints remember: agents with their versions and aliases,
and conversations with their entries, in memory, for the life of the server.

Everything here runs on the server's event loop, one request at a time between awaits, so the
stores need no lock. Ids look like the live service's: a prefix and 32 hex digits
(``ag_…``, ``conv_…``, ``msg_…``, ``fc_…``, ``tool_exec_…``, ``handoff_…``).
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

__all__ = ["AgentStore", "Conversation", "ConversationStore", "Stores", "new_id", "now", "stores_of"]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def now() -> str:
    """The time as the live service writes it: ``2025-05-27T11:34:39.175924Z``."""
    global _SECOND
    moment = time.time()
    second = int(moment)
    known = _SECOND
    if known[0] != second:  # formatting a date costs more than an event: once a second
        known = _SECOND = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{known[1]}.{int((moment - second) * 1_000_000):06d}Z"


_SECOND = (0, "")


# --- Agents ----------------------------------------------------------------------------------------

# What a version of an agent holds; the rest (id, versions, times) belongs to the agent.
VERSIONED = (
    "instructions",
    "tools",
    "completion_args",
    "guardrails",
    "model",
    "name",
    "description",
    "handoffs",
    "metadata",
    "deployment_chat",
    "version_message",
)


@dataclass
class _Agent:
    id: str
    created_at: str
    versions: list[dict[str, Any]]  # index = version number; each holds VERSIONED fields and updated_at
    current: int = 0
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)


class AgentStore:
    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        stamp = now()
        agent = _Agent(new_id("ag"), stamp, [self._version(fields, stamp)])
        self._agents[agent.id] = agent
        return self._shown(agent, 0)

    def get(self, agent_id: str, version: int | str | None = None) -> dict[str, Any] | None:
        """The agent as the API shows it, at ``version`` (a number or an alias) or its current one."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return None
        number = self._number(agent, version)
        return None if number is None else self._shown(agent, number)

    def all(self) -> list[dict[str, Any]]:
        """Every agent at its current version, newest first."""
        agents = sorted(self._agents.values(), key=lambda a: a.created_at, reverse=True)
        return [self._shown(agent, agent.current) for agent in agents]

    def update(self, agent_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """A new version from the current one with ``changes``; it becomes the current one."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return None
        base = agent.versions[agent.current]
        merged = {**{k: base.get(k) for k in VERSIONED}, **changes}
        agent.versions.append(self._version(merged, now()))
        agent.current = len(agent.versions) - 1
        return self._shown(agent, agent.current)

    def switch(self, agent_id: str, version: int) -> dict[str, Any] | None:
        agent = self._agents.get(agent_id)
        if agent is None or not 0 <= version < len(agent.versions):
            return None
        agent.current = version
        return self._shown(agent, version)

    def versions(self, agent_id: str) -> list[dict[str, Any]] | None:
        agent = self._agents.get(agent_id)
        if agent is None:
            return None
        return [self._shown(agent, number) for number in range(len(agent.versions))]

    def set_alias(self, agent_id: str, alias: str, version: int) -> dict[str, Any] | None:
        agent = self._agents.get(agent_id)
        if agent is None or not 0 <= version < len(agent.versions):
            return None
        stamp = now()
        known = agent.aliases.get(alias)
        record = {"alias": alias, "version": version, "created_at": known["created_at"] if known else stamp}
        agent.aliases[alias] = {**record, "updated_at": stamp}
        return dict(agent.aliases[alias])

    def aliases(self, agent_id: str) -> list[dict[str, Any]] | None:
        agent = self._agents.get(agent_id)
        return None if agent is None else [dict(a) for a in agent.aliases.values()]

    def delete_alias(self, agent_id: str, alias: str) -> bool:
        agent = self._agents.get(agent_id)
        return agent is not None and agent.aliases.pop(alias, None) is not None

    def delete(self, agent_id: str) -> bool:
        return self._agents.pop(agent_id, None) is not None

    def exists(self, agent_id: str) -> bool:
        return agent_id in self._agents

    @staticmethod
    def _version(fields: dict[str, Any], stamp: str) -> dict[str, Any]:
        version = {name: copy.deepcopy(fields.get(name)) for name in VERSIONED}
        version["tools"] = version["tools"] or []
        version["deployment_chat"] = bool(version["deployment_chat"])
        version["updated_at"] = stamp
        return version

    @staticmethod
    def _number(agent: _Agent, version: int | str | None) -> int | None:
        if version is None:
            return agent.current
        if isinstance(version, str) and not version.isdigit():
            alias = agent.aliases.get(version)
            return None if alias is None else int(alias["version"])
        number = int(version)
        return number if 0 <= number < len(agent.versions) else None

    @staticmethod
    def _shown(agent: _Agent, number: int) -> dict[str, Any]:
        version = agent.versions[number]
        shown = {name: copy.deepcopy(version[name]) for name in VERSIONED}
        if shown["completion_args"] is None:
            shown["completion_args"] = {}
        return {
            **shown,
            "object": "agent",
            "id": agent.id,
            "version": number,
            "versions": list(range(len(agent.versions))),
            "created_at": agent.created_at,
            "updated_at": version["updated_at"],
            "source": "api",
        }


# --- Conversations -------------------------------------------------------------------------------


@dataclass
class Conversation:
    id: str
    created_at: str
    updated_at: str
    # What answers: a model (with the conversation's own instructions, tools, ...) or an agent.
    model: str | None
    agent_id: str | None
    agent_version: int | str | None
    settings: dict[str, Any]  # instructions, tools, completion_args, guardrails (a model's conversation)
    about: dict[str, Any]  # name, description, metadata
    entries: list[dict[str, Any]] = field(default_factory=list)

    def shown(self) -> dict[str, Any]:
        """The conversation as ``GET /v1/conversations/{id}`` shows it (ModelConversation or AgentConversation)."""
        common = {**self.about, "object": "conversation", "id": self.id}
        common.update(created_at=self.created_at, updated_at=self.updated_at)
        if self.agent_id is not None:
            return {**common, "agent_id": self.agent_id, "agent_version": self.agent_version}
        settings = {k: copy.deepcopy(v) for k, v in self.settings.items() if v is not None}
        return {**settings, **common, "model": self.model}


class ConversationStore:
    def __init__(self) -> None:
        self._conversations: dict[str, Conversation] = {}

    def add(self, conversation: Conversation) -> None:
        self._conversations[conversation.id] = conversation

    def get(self, conversation_id: str) -> Conversation | None:
        return self._conversations.get(conversation_id)

    def all(self) -> list[Conversation]:
        return sorted(self._conversations.values(), key=lambda c: c.created_at, reverse=True)

    def delete(self, conversation_id: str) -> bool:
        return self._conversations.pop(conversation_id, None) is not None


@dataclass
class Stores:
    agents: AgentStore = field(default_factory=AgentStore)
    conversations: ConversationStore = field(default_factory=ConversationStore)


def stores_of(request: Request) -> Stores:
    """The app's stores, made on first use (the app's state holds them for its life)."""
    state = request.app.state
    stores: Stores | None = getattr(state, "agent_stores", None)
    if stores is None:
        stores = state.agent_stores = Stores()
    return stores
