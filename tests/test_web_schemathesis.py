"""A bounded property-based run of the API against its own OpenAPI schema (schemathesis):
no request may crash the server, and every response must match the documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from web_helpers import add_users, customer_message, web_app

from bot.pipeline.runtime import Runtime

TOKENS: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_runtime(shared_runtime: Runtime) -> Runtime:
    TOKENS.update(add_users(shared_runtime))
    customer_message(shared_runtime, "adv-a", "wx-s", "重疾险多少钱", "测试客户")
    return shared_runtime


@pytest.mark.slow
def test_api_conforms_to_its_schema(api_runtime: Runtime) -> None:
    """Each operation gets a few generated requests (as a manager without a team, who is
    allowed on every endpoint). The plugin decorators of schemathesis do not run under
    this pytest, so the operations are driven through their Hypothesis strategies."""
    headers = {"Authorization": f"Bearer {TOKENS['max']}"}
    # the API reference needs a login ([web] public_docs is off)
    schema = schemathesis.openapi.from_asgi("/openapi.json", web_app(api_runtime), headers=headers)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/events":
            continue  # the event stream never ends by design; the browser test covers it

        @given(case=operation.as_strategy())
        @settings(
            max_examples=4,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )

        run()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 12, tested
