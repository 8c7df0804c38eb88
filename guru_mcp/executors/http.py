"""API-call actions: one templated HTTP request through the shared, policy-checked client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from guru_mcp.errors import RunFailure
from guru_mcp.models import ApiCallConfig, ExecResult, Job, RunStatus
from guru_mcp.templating import fill_body, fill_header, fill_url


class HttpExecutor:
    """Runs API-call jobs. The result for the model is `{success, status_code, data}`."""

    def __init__(self, client: httpx.AsyncClient, *, response_limit: int) -> None:
        self.client = client
        self.response_limit = response_limit

    def build_request(self, job: Job) -> httpx.Request:
        config = job.action.config
        assert isinstance(config, ApiCallConfig)
        values: dict[str, Any] = {**job.arguments, **job.builtins, **job.secrets}
        url = fill_url(config.endpoint, values)
        headers = {h.key: fill_header(h.key, h.value, values) for h in config.headers}
        body = None if config.body is None else fill_body(config.body, values)
        content = None
        if body is not None and config.method != "GET":
            content = json.dumps(body).encode()
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        return self.client.build_request(
            config.method, url, headers=headers, content=content, timeout=httpx.Timeout(job.timeout)
        )

    async def execute(self, job: Job) -> ExecResult:
        request = self.build_request(job)
        host = urlsplit(str(request.url)).hostname or ""
        try:
            response = await self.client.send(request, stream=True)
            try:
                body, truncated = await self._read_capped(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise RunFailure(f"the request to {host} timed out after {job.timeout:g} s", status="timeout") from None
        except httpx.TooManyRedirects:
            raise RunFailure(f"the request to {host} was redirected too many times") from None
        except httpx.HTTPError as exc:
            raise RunFailure(f"the request to {host} failed: {type(exc).__name__}: {exc}") from None
        hosts = list(dict.fromkeys([host, *(urlsplit(str(r.url)).hostname or "" for r in response.history)]))
        data = self._decode(response, body)
        success = response.is_success
        result: dict[str, Any] = {"success": success, "status_code": response.status_code, "data": data}
        if truncated:
            result["truncated"] = True
        return ExecResult(
            status=RunStatus.OK if success else RunStatus.ERROR,
            text=json.dumps(result, ensure_ascii=False, default=str),
            data=result,
            error="" if success else f"HTTP {response.status_code} {response.reason_phrase}".strip(),
            truncated=truncated,
            hosts=[h for h in hosts if h],
        )

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self.response_limit:
                return b"".join(chunks)[: self.response_limit], True
        return b"".join(chunks), False

    @staticmethod
    def _decode(response: httpx.Response, body: bytes) -> Any:
        text = body.decode(response.encoding or "utf-8", errors="replace")
        content_type = response.headers.get("content-type", "")
        if "json" in content_type or text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass
        return text
