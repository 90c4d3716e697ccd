from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from english import english_leaks
from pydantic import BaseModel

from bot.errors import ConfigError
from bot.settings import LLMSettings, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys |= _keys(ann, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _flatten(data: dict[str, object], prefix: str = "") -> set[str]:
    keys = set()
    for k, v in data.items():
        if isinstance(v, dict):
            keys |= _flatten(v, f"{prefix}{k}.")
        else:
            keys.add(prefix + k)
    return keys


def test_every_setting_is_documented_in_the_example() -> None:
    documented = _flatten(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert documented == _keys(Settings)


def test_example_file_loads_to_the_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('data_dir = "from-file"\n[store]\nurl = "sqlite:///x.db"\n', encoding="utf-8")
    s = load_settings(cfg, environ={"SIYU_DATA_DIR": "from-env", "SIYU_DATABASE_URL": "sqlite://"})
    assert s.data_dir == Path("from-env")
    assert s.database_url == "sqlite://"
    assert load_settings(cfg, data_dir=tmp_path, environ={}).data_dir == tmp_path


def test_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(None, data_dir=tmp_path, environ={})
    assert s.database_url == f"sqlite:///{tmp_path.as_posix()}/siyu.db"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[retrieval]\ntop_scripts = 0\n", "retrieval：top_scripts 不能小于 1"),
        ("[llm]\nbase_url = 3\n", "llm：base_url 应为文本"),
        ("[nope]\nx = 1\n", "未知字段 nope"),
        ('timezone = "Mars/Olympus"\n', "未知的时区 'Mars/Olympus'"),
        ("[web]\nworkers = inf\n", "web：workers：应为有限的数字"),
        ("data_dir = 5\n", "data_dir：应为路径（文本）"),
        ("this is = = not toml", "不是有效的 TOML：第 1 行第 6 列附近有语法错误"),
        (b"[web]\nhost = '\xc4\xe3'\n", "不是 UTF-8 文本"),
    ],
)
def test_bad_settings_are_reported_clearly(tmp_path: Path, text: str | bytes, needle: str) -> None:
    """Each problem names its section and key and says what is wrong in Chinese
    (pydantic's and tomllib's messages are English)."""
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, environ={})
    assert needle in str(caught.value)
    said = str(caught.value).replace(str(cfg), "")
    keys = {"retrieval", "top_scripts", "llm", "base_url", "nope", "Mars", "Olympus", "data_dir"}
    keys |= {"web", "workers"}
    assert english_leaks(said, allow=keys) == []


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="找不到配置文件"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_api_key_comes_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm = LLMSettings(base_url="http://127.0.0.1:1/v1", api_key_env="MY_KEY")
    monkeypatch.setenv("MY_KEY", "sk-real-looking")
    assert llm.api_key() == "sk-real-looking"
    monkeypatch.setenv("MY_KEY", "changeme")
    with pytest.raises(ConfigError, match="占位符"):
        llm.api_key()


def test_today_is_the_teams_day_not_the_machines() -> None:
    """At 17:00 UTC it is already the next day in Shanghai (the default), not in London."""
    evening = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    assert Settings().today(evening) == date(2026, 12, 7)
    assert Settings(timezone="Europe/London").today(evening) == date(2026, 12, 6)
    assert Settings().zone.key == "Asia/Shanghai"
