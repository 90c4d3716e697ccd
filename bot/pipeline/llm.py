"""The LLM boundary: draft a reply grounded in knowledge passages; choose a message's tags.

``LLMClient`` owns everything that does not depend on the vendor: rendering the prompt
(``bot.pipeline.prompts``, which masks personal data), the deadline, turning every failure into
``LLMError``, throttled failure logging, and cleaning the answer (citations kept only
for passages that were sent). An adapter implements one method, ``complete``.
``OpenAIChatClient`` is the adapter for any OpenAI-compatible endpoint (Qwen, DeepSeek,
vLLM, Ollama, llama.cpp server …) and this is the only module that imports ``openai``.

The deadline is enforced as a whole: the HTTP client gets ``timeout_s`` for each phase
(connect, write, read), and the call itself runs in a daemon thread that is abandoned
when ``timeout_s`` (plus a small slack) has passed, so a server that trickles bytes
cannot hold a suggestion hostage. An abandoned call ends on its own at its next HTTP
timeout; its result is discarded.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.errors import LLMError
from bot.pipeline.prompts import (
    ChatMessage,
    DraftRequest,
    TagRequest,
    render_draft_messages,
    render_tag_messages,
)
from bot.settings import LLMSettings
from scripts_lib.variables import one_line

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

#: Seconds past ``timeout_s`` before an unfinished call is abandoned (the HTTP client's
#: own timeout normally fires first and gives the more precise reason).
DEADLINE_SLACK_S = 0.25
#: The same kind of failure is logged at WARNING at most once per this many seconds;
#: repeats go to DEBUG.
FAILURE_LOG_INTERVAL_S = 60.0
#: Longest server error message quoted in an ``LLMError``.
_MAX_DETAIL_CHARS = 120
#: Longest reason kept of a tag the model chose (it becomes the tag's evidence).
MAX_WHY_CHARS = 30


@dataclass(frozen=True, slots=True)
class Draft:
    """A drafted reply. ``citations`` are the refs of the passages it cites, in order of
    first mention; only refs of passages that were sent are kept."""

    text: str
    citations: tuple[int, ...]
    model: str
    latency_ms: float


@dataclass(frozen=True, slots=True)
class TagChoice:
    """A tag the model chose for a message (one of the options offered), and why."""

    name: str
    why: str


@dataclass(frozen=True, slots=True)
class Completion:
    """The raw answer of one chat completion, as an adapter returns it."""

    text: str
    model: str


class LLMClient(ABC):
    """Base class of LLM adapters: owns the prompt, the deadline, error translation and
    failure logging; a subclass implements ``complete``."""

    def __init__(
        self,
        *,
        model: str,
        timeout_s: float,
        failure_log_interval_s: float = FAILURE_LOG_INTERVAL_S,
    ) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._failures = _FailureLog(
            failure_log_interval_s, "LLM draft failed", "suggestions fall back to retrieval-only"
        )
        self._tag_failures = _FailureLog(
            failure_log_interval_s, "LLM tag choice failed", "tags come from the tagger alone"
        )

    def draft_reply(self, request: DraftRequest) -> Draft:
        """Draft one reply to ``request``; raises ``LLMError`` on any failure, within about
        ``timeout_s`` + ``DEADLINE_SLACK_S`` seconds."""
        messages = render_draft_messages(request)
        started = time.perf_counter()
        try:
            completion = self._complete_before_deadline(messages)
            text, citations = clean_answer(completion.text, {p.ref for p in request.passages})
            if not text:
                raise LLMError("大模型返回了空回答")
        except LLMError as exc:
            self._failures.failed(str(exc))
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        self._failures.succeeded()
        log.debug("draft from %s in %.0f ms, citations %s", completion.model, latency_ms, citations)
        return Draft(
            text=text,
            citations=citations,
            model=completion.model or self.model,
            latency_ms=latency_ms,
        )

    def choose_tags_later(self, request: TagRequest) -> Callable[[], tuple[TagChoice, ...]]:
        """Ask now which tags the message of ``request`` shows; the returned function
        waits for the answer (until about ``timeout_s`` after this call) and returns the
        chosen options, or raises ``LLMError``. Meanwhile the caller does its own work
        (the tag call runs beside the reply draft, not after it)."""
        wait = self._start(render_tag_messages(request))
        offered = {o.name for o in request.options}

        def result() -> tuple[TagChoice, ...]:
            try:
                chosen = parse_tag_choices(wait().text, offered, request.max_tags)
            except LLMError as exc:
                self._tag_failures.failed(str(exc))
                raise
            self._tag_failures.succeeded()
            return chosen

        return result

    @abstractmethod
    def complete(self, messages: list[ChatMessage], *, timeout_s: float) -> Completion:
        """Send ``messages`` to the model and return its answer. Raise ``LLMError`` (from
        the vendor error) with a short, stable reason: it is shown to people and the same
        reason is logged once per interval."""

    def close(self) -> None:
        """Release connections (subclasses holding any override this)."""
        return None

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _complete_before_deadline(self, messages: list[ChatMessage]) -> Completion:
        return self._start(messages)()

    def _start(self, messages: list[ChatMessage]) -> Callable[[], Completion]:
        """Send ``messages`` in a worker thread now; the returned function waits for the
        answer until ``timeout_s`` + ``DEADLINE_SLACK_S`` after this call."""
        outcome: list[Completion | BaseException] = []

        def call() -> None:
            try:
                outcome.append(self.complete(messages, timeout_s=self.timeout_s))
            except BaseException as exc:  # handed to the waiting thread below
                outcome.append(exc)

        deadline = time.monotonic() + self.timeout_s + DEADLINE_SLACK_S
        worker = threading.Thread(target=call, name="siyu-llm-call", daemon=True)
        worker.start()
        return lambda: self._outcome(worker, outcome, deadline)

    def _outcome(
        self, worker: threading.Thread, outcome: list[Completion | BaseException], deadline: float
    ) -> Completion:
        worker.join(max(0.0, deadline - time.monotonic()))
        if not outcome:
            raise LLMError(f"{self.timeout_s:g} 秒内没有回答")
        result = outcome[0]
        if isinstance(result, LLMError):
            raise result
        if isinstance(result, Exception):
            raise LLMError(f"大模型适配器返回了意外的 {type(result).__name__}") from result
        if isinstance(result, BaseException):
            raise result
        return result


class OpenAIChatClient(LLMClient):
    """Chat completions against an OpenAI-compatible endpoint set by ``LLMSettings``.

    The ``openai`` client is built here, from the settings, and nowhere else; no retries
    (a late draft is worthless: the suggestion falls back to retrieval-only).
    Raises ``ConfigError`` when the key's environment variable holds a placeholder.
    """

    def __init__(
        self,
        settings: LLMSettings,
        *,
        failure_log_interval_s: float = FAILURE_LOG_INTERVAL_S,
    ) -> None:
        super().__init__(
            model=settings.model,
            timeout_s=settings.timeout_s,
            failure_log_interval_s=failure_log_interval_s,
        )
        api_key = settings.api_key()  # a placeholder fails here, before any import
        # Imported here, not at the top: ``import openai`` costs ~0.8 s, which
        # retrieval-only runs and the CLI's --help should not pay.
        import openai

        self._settings = settings
        self._client: openai.OpenAI = openai.OpenAI(
            base_url=settings.base_url,
            api_key=api_key,
            timeout=settings.timeout_s,
            max_retries=0,
        )

    def complete(self, messages: list[ChatMessage], *, timeout_s: float) -> Completion:
        """One non-streaming chat completion; every vendor error becomes ``LLMError``."""
        import openai

        try:
            response: Any = self._client.chat.completions.create(
                model=self._settings.model,
                messages=messages,  # type: ignore[arg-type]  # plain role/content dicts
                max_tokens=self._settings.max_tokens,
                temperature=self._settings.temperature,
                timeout=timeout_s,
            )
        except openai.APITimeoutError as exc:
            raise LLMError(f"{timeout_s:g} 秒内没有回答") from exc
        except openai.APIConnectionError as exc:
            raise LLMError(f"无法连接 {self._settings.base_url}") from exc
        except openai.APIStatusError as exc:
            raise LLMError(f"HTTP {exc.status_code}{_server_detail(exc)}") from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"回答无法使用（{type(exc).__name__}）") from exc
        except ValueError as exc:  # JSON body that does not parse
            raise LLMError("回答不是有效的 JSON") from exc
        return _completion_from(response, fallback_model=self._settings.model)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def build_llm(settings: LLMSettings) -> LLMClient | None:
    """The configured LLM client, or ``None`` when no endpoint is set (retrieval-only).

    Raises ``ConfigError`` when the API key's environment variable holds a placeholder.
    """
    if not settings.enabled:
        return None
    return OpenAIChatClient(settings)


def parse_tag_choices(text: str, offered: set[str], limit: int) -> tuple[TagChoice, ...]:
    """The tags of a model's answer: the JSON object in it (a reasoning block or a code
    fence around it tolerated), ``{"tags": [{"name", "why"}, …]}`` (plain names too);
    names not ``offered`` and repeats are dropped, at most ``limit`` kept, each reason
    made one short line. Raises ``LLMError`` when the answer holds no such object."""
    if "<think>" in text and "</think>" not in text:  # cut off while reasoning: no answer
        text = ""
    text = _after_reasoning(text)
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1]) if 0 <= start < end else None
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        data = None
    items = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise LLMError("大模型没有按格式回答标签")
    chosen: list[TagChoice] = []
    for item in items:
        if isinstance(item, str):
            name, why = item, ""
        elif isinstance(item, dict):
            name, why = str(item.get("name") or ""), str(item.get("why") or "")
        else:
            continue
        name = name.strip()
        if name in offered and all(c.name != name for c in chosen):
            why = one_line(why)
            if len(why) > MAX_WHY_CHARS:
                why = why[: MAX_WHY_CHARS - 1] + "…"
            chosen.append(TagChoice(name=name, why=why))
    return tuple(chosen[:limit])


def clean_answer(text: str, refs: set[int]) -> tuple[str, tuple[int, ...]]:
    """The reply text and the refs it cites, from a model's raw answer.

    Drops a reasoning block (``<think>…</think>``), a "回复：" prefix and wrapping quotes;
    normalises citation markers (``[1]``, ``［1］``, ``【1】``, ``[1,2]``) to ``[1][2]``;
    removes markers citing a ref not in ``refs``.
    """
    patterns = _answer_patterns()
    text = _after_reasoning(text)
    text = patterns.prefix.sub("", text.strip()).strip()
    if len(text) >= 2 and (text[0], text[-1]) in (('"', '"'), ("“", "”"), ("「", "」")):
        text = text[1:-1].strip()
    cited: list[int] = []

    def replace(marker: re.Match[str]) -> str:
        numbers = [int(n) for n in patterns.number.findall(marker.group("refs"))]
        kept = [n for n in numbers if n in refs]
        for n in kept:
            if n not in cited:
                cited.append(n)
        if not kept:
            return ""
        return marker.group("space") + "".join(f"[{n}]" for n in kept)

    text = patterns.citation.sub(replace, text).strip()
    return text, tuple(cited)


def _after_reasoning(text: str) -> str:
    """The answer after a reasoning block (``<think>…</think>``), or ``text`` whole."""
    return text.rsplit("</think>", 1)[1] if "</think>" in text else text


@dataclass(frozen=True, slots=True)
class _AnswerPatterns:
    citation: re.Pattern[str]
    number: re.Pattern[str]
    prefix: re.Pattern[str]


@cache
def _answer_patterns() -> _AnswerPatterns:
    return _AnswerPatterns(
        citation=re.compile(
            r"(?P<space>[ \t]*)[\[［【]\s*(?P<refs>\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]］】]"
        ),
        number=re.compile(r"\d+"),
        prefix=re.compile(r"^(?:回复|草稿|建议回复|回复草稿)\s*[:：]\s*"),
    )


def _completion_from(response: Any, *, fallback_model: str) -> Completion:
    """Our ``Completion`` from the SDK's object, checking every step: with lenient
    validation the SDK hands back whatever the server sent."""
    if isinstance(response, str):
        raise LLMError("大模型的回答不是对话补全格式")
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise LLMError("大模型的回答里没有候选结果")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        raise LLMError("大模型返回了空回答")
    if getattr(choices[0], "finish_reason", None) == "length":
        log.debug("the draft hit max_tokens and may be cut short")
    model = getattr(response, "model", None)
    return Completion(text=content, model=model if isinstance(model, str) else fallback_model)


def _server_detail(exc: openai.APIStatusError) -> str:
    """The server's own error message, short, for the reason of an HTTP error."""
    body = exc.body
    message: object = None
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message.strip():
        return ""
    message = " ".join(message.split())
    if len(message) > _MAX_DETAIL_CHARS:
        message = message[: _MAX_DETAIL_CHARS - 1] + "…"
    return f": {message}"


class _FailureLog:
    """Logs a failure reason at WARNING once per interval, repeats at DEBUG, and the
    recovery once (at INFO) when a warned-about outage ends. Thread-safe."""

    def __init__(self, interval_s: float, what: str, fallback: str) -> None:
        self._interval_s = interval_s
        self._what = what
        self._fallback = fallback
        self._lock = threading.Lock()
        self._last_warned: dict[str, float] = {}
        self._failed_calls = 0
        self._warned = False

    def failed(self, reason: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failed_calls += 1
            last = self._last_warned.get(reason)
            if last is None or now - last >= self._interval_s:
                self._last_warned[reason] = now
                self._warned = True
                log.warning(
                    "%s: %s; %s (the same failure is logged again at most every %g s)",
                    self._what,
                    reason,
                    self._fallback,
                    self._interval_s,
                )
            else:
                log.debug("%s again: %s", self._what, reason)

    def succeeded(self) -> None:
        with self._lock:
            if self._warned:
                log.info(
                    "%s: the endpoint answers again after %d failed call(s)",
                    self._what,
                    self._failed_calls,
                )
            self._failed_calls = 0
            self._warned = False
