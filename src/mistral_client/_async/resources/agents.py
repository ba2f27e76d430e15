"""``client.agents``: agent completions (chat's request, stream and result, with ``agent_id``) and the
agents themselves: create, get, list, update, delete, their versions and aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._wire.agents import (
    Agent,
    AgentAlias,
    AgentCreateRequest,
    AgentPage,
    AgentsCompletionRequest,
    AgentUpdateRequest,
)
from ..._wire.answers import ChatCompletion
from ..._wire.requests import _encode, build_chat_body
from ..stream import AsyncChatStream
from ._base import AsyncResource, check_whole_number, decode, decode_completion, path_segment, query_string

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._wire.agents import AgentParams, AgentsParams

__all__ = ["AsyncAgents"]

_PATH = "/agents/completions"
Messages = Sequence[Mapping[str, Any]]

_decode_agent = msgspec.json.Decoder(Agent).decode
AgentList = list[Agent]  # ``list`` is a method's name inside the class
AliasList = list[AgentAlias]
_decode_agents = msgspec.json.Decoder(AgentList).decode
_decode_alias = msgspec.json.Decoder(AgentAlias).decode
_decode_page = msgspec.json.Decoder(AgentPage).decode
_decode_aliases = msgspec.json.Decoder(AliasList).decode


class AsyncAgents(AsyncResource):
    async def complete(
        self,
        request: AgentsCompletionRequest | None = None,
        /,
        *,
        agent_id: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[AgentsParams],
    ) -> ChatCompletion:
        """Ask an agent and wait for the whole answer (a ``ChatCompletion``, as ``chat.complete``)."""
        body, output_type = _body(request, agent_id, messages, params, stream=False, method="agents.complete")
        data, sent = await self.post_json(_PATH, body, timeout, extra_headers, operation="invoke_agent")
        return decode_completion(data, sent, output_type)

    def stream(
        self,
        request: AgentsCompletionRequest | None = None,
        /,
        *,
        agent_id: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        keep_chunks: bool = True,
        **params: Unpack[AgentsParams],
    ) -> AsyncChatStream:
        """Stream an agent's answer: the same stream, chunks and result as ``chat.stream``."""
        body, output_type = _body(request, agent_id, messages, params, stream=True, method="agents.stream")
        return self.open_stream(_PATH, body, timeout, extra_headers, keep_chunks, output_type, operation="invoke_agent")

    # -- the agents -------------------------------------------------------------------------------

    async def create(
        self, *, model: str, name: str, timeout: TimeoutLike = None, **params: Unpack[AgentParams]
    ) -> Agent:
        """Make an agent: a model with a name, and optionally instructions, tools, completion_args..."""
        body = _agent_body(AgentCreateRequest, {"model": model, "name": name, **params}, "agents.create")
        data, sent = await self.post_json("/agents", body, timeout, operation="create_agent")
        return decode(_decode_agent, data, "an agent", sent)

    async def get(self, agent_id: str, *, agent_version: int | str | None = None, timeout: TimeoutLike = None) -> Agent:
        """An agent, at its current version or at ``agent_version`` (a number or an alias)."""
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.get')}"
        data = await self.get_json(path + query_string(agent_version=agent_version), timeout, operation="get_agent")
        return decode(_decode_agent, data, "an agent")

    async def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        name: str | None = None,
        search: str | None = None,
        timeout: TimeoutLike = None,
    ) -> AgentList:
        """The agents, newest first, a page at a time."""
        _check_page("agents.list", page, page_size, 1000)
        data = await self.get_json(
            "/agents" + query_string(page=page, page_size=page_size, name=name, search=search),
            timeout,
            operation="list_agents",
        )
        return decode(_decode_agents, data, "a list of agents")

    async def list_page(
        self,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        name: str | None = None,
        search: str | None = None,
        timeout: TimeoutLike = None,
    ) -> AgentPage:
        """One page of the agents the key may see (``GET /v1/agents/pages``); pass its
        ``next_page_token`` as ``page_token`` for the next one, until it is ``None``."""
        _check_page("agents.list_page", None, page_size, 1000)
        query = "/agents/pages" + query_string(page_size=page_size, page_token=page_token, name=name, search=search)
        return decode(_decode_page, await self.get_json(query, timeout, operation="list_agents"), "a page of agents")

    async def update(
        self,
        agent_id: str,
        *,
        model: str | None = None,
        name: str | None = None,
        deployment_chat: bool | None = None,
        timeout: TimeoutLike = None,
        **params: Unpack[AgentParams],
    ) -> Agent:
        """Change an agent: the fields given make its new version."""
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.update')}"
        fields = {"model": model, "name": name, "deployment_chat": deployment_chat, **params}
        body = _agent_body(AgentUpdateRequest, fields, "agents.update")
        data, sent = await self.call("PATCH", path, body, timeout, operation="update_agent")
        return decode(_decode_agent, data, "an agent", sent)

    async def delete(self, agent_id: str, *, timeout: TimeoutLike = None) -> None:
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.delete')}"
        await self.call("DELETE", path, None, timeout, operation="delete_agent")

    async def set_version(self, agent_id: str, version: int, *, timeout: TimeoutLike = None) -> Agent:
        """Make ``version`` the agent's current version."""
        _check_version("agents.set_version", version)
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.set_version')}/version"
        data, sent = await self.call(
            "PATCH", path + query_string(version=version), None, timeout, operation="update_agent_version"
        )
        return decode(_decode_agent, data, "an agent", sent)

    async def list_versions(
        self, agent_id: str, *, page: int | None = None, page_size: int | None = None, timeout: TimeoutLike = None
    ) -> AgentList:
        """Every version of an agent, each whole."""
        _check_page("agents.list_versions", page, page_size, 100)
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.list_versions')}/versions"
        data = await self.get_json(
            path + query_string(page=page, page_size=page_size), timeout, operation="list_agent_versions"
        )
        return decode(_decode_agents, data, "a list of agent versions")

    async def get_version(self, agent_id: str, version: int | str, *, timeout: TimeoutLike = None) -> Agent:
        segment = path_segment(agent_id, "agent_id", "agents.get_version")
        path = f"/agents/{segment}/versions/{path_segment(str(version), 'version', 'agents.get_version')}"
        return decode(_decode_agent, await self.get_json(path, timeout, operation="get_agent_version"), "an agent")

    async def set_alias(self, agent_id: str, alias: str, version: int, *, timeout: TimeoutLike = None) -> AgentAlias:
        """Point ``alias`` (lowercase letters, digits, ``-`` and ``_``) at one version of the agent."""
        _check_alias("agents.set_alias", alias)
        _check_version("agents.set_alias", version)
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.set_alias')}/aliases"
        data, sent = await self.call(
            "PUT", path + query_string(alias=alias, version=version), None, timeout, operation="create_agent_alias"
        )
        return decode(_decode_alias, data, "an agent alias", sent)

    async def list_aliases(self, agent_id: str, *, timeout: TimeoutLike = None) -> AliasList:
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.list_aliases')}/aliases"
        return decode(
            _decode_aliases,
            await self.get_json(path, timeout, operation="list_agent_aliases"),
            "a list of agent aliases",
        )

    async def delete_alias(self, agent_id: str, alias: str, *, timeout: TimeoutLike = None) -> None:
        _check_alias("agents.delete_alias", alias)
        path = f"/agents/{path_segment(agent_id, 'agent_id', 'agents.delete_alias')}/aliases"
        await self.call("DELETE", path + query_string(alias=alias), None, timeout, operation="delete_agent_alias")


def _body(
    request: AgentsCompletionRequest | None,
    agent_id: str | None,
    messages: Messages | None,
    params: Mapping[str, Any],
    *,
    stream: bool,
    method: str,
) -> tuple[bytes, Any]:
    # Chat's checks and encoding, with ``agent_id`` where chat has ``model``.
    return build_chat_body(
        request,
        agent_id,
        messages,
        params,
        stream=stream,
        method=method,
        request_type=AgentsCompletionRequest,
        target="agent_id",
    )


def _agent_body(request_type: type[msgspec.Struct], fields: Mapping[str, Any], method: str) -> bytes:
    payload = {key: value for key, value in fields.items() if value is not None}
    allowed = request_type.__struct_fields__
    for key in payload:
        if key not in allowed:
            raise TypeError(f"{method}() got an unexpected keyword argument {key!r}")
    if "tools" in payload:
        from ..._wire.conversation_requests import normalize_tools

        payload["tools"] = normalize_tools(payload["tools"], method)
    try:
        msgspec.convert(payload, request_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    return _encode(method, payload)


def _check_page(method: str, page: int | None, page_size: int | None, most: int) -> None:
    check_whole_number(method, "page", page, 0)
    check_whole_number(method, "page_size", page_size, 1, most)


def _check_version(method: str, version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidRequestError(f"{method}(): version must be a version number (an int >= 0), got {version!r}")


def _check_alias(method: str, alias: object) -> None:
    import re

    if not isinstance(alias, str) or not re.fullmatch(r"[a-z]([a-z0-9_-]*[a-z0-9])?", alias) or len(alias) > 64:
        raise InvalidRequestError(
            f"{method}(): alias must be 1-64 lowercase letters, digits, '-' or '_', starting with a letter "
            f"and not ending with '-' or '_', got {alias!r}"
        )
