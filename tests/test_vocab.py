"""The closed vocabularies (bot/vocab.py): one definition each, agreeing with the script
library's interchange format, and parsing user input into them."""

from __future__ import annotations

import pytest

import scripts_lib
from bot import vocab
from bot.errors import InputError, one_of


def test_the_script_vocabularies_match_the_interchange_format() -> None:
    assert vocab.STAGES == scripts_lib.STAGES
    assert vocab.SCRIPT_STATUSES == scripts_lib.STATUSES


def test_one_of_parses_or_names_every_allowed_value() -> None:
    assert one_of(vocab.ROLES, "manager", "role") == "manager"
    with pytest.raises(InputError) as info:
        one_of(vocab.ROLES, "admin", "role")
    assert str(info.value) == "role 只能是 adviser, operator, manager 之一，不是 'admin'"
    assert vocab.member(vocab.STAGES, "engage") == "engage"
    assert vocab.member(vocab.STAGES, "引流") is None
    assert vocab.member(vocab.STAGES, None) is None
