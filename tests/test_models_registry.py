"""The preset table, name resolution for seed models, and `agentsmall models list | info`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentsmall.cli import main
from agentsmall.errors import UnknownModelError
from agentsmall.models import PRESETS, load_model, resolve_model_path
from agentsmall.models._formats import FORMATS
from agentsmall.models._presets import ALL_PRESETS, SEED_PRESETS
from agentsmall.models._pull import cached_path

SEEDS = {
    "llama3.2-3b",
    "smollm3-3b",
    "phi4-mini",
    "qwen3.5-4b",
    "qwen3-0.6b",
    "gemma3-4b",
    "gemma3n-e4b",
    "deepseek-r1-1.5b",
}


@pytest.fixture(autouse=True)
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTSMALL_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def test_the_table_holds_the_eight_seeds_and_the_two_embedded() -> None:
    assert {p.name for p in SEED_PRESETS} == SEEDS
    assert set(PRESETS) == SEEDS | {"smollm2-135m", "gemma3-270m"}
    for p in ALL_PRESETS:
        assert p.tool_format in FORMATS, p.name
        assert p.context_length >= 8192 and p.size_bytes > 0
        if p.embedded:
            assert p.repo_id is None
        else:
            assert p.repo_id and p.filename and p.filename.endswith(".gguf")
            assert p.quantization == "Q4_K_M" and "Q4_K_M" in p.filename
        assert (p.thinking == "none") == (not p.thinking_default), p.name
    by_name = {p.name: p for p in ALL_PRESETS}
    needs_acceptance = {p.name for p in ALL_PRESETS if p.license_acceptance}
    assert needs_acceptance == {"llama3.2-3b", "gemma3-4b", "gemma3n-e4b"}
    assert by_name["deepseek-r1-1.5b"].thinking == "always"
    assert by_name["deepseek-r1-1.5b"].role == "reasoner"
    # a thinking switch exists only where the format can work it
    for p in ALL_PRESETS:
        if p.thinking == "switch":
            assert FORMATS[p.tool_format].thinking_switch, p.name


def test_a_seed_not_pulled_says_which_command_to_run() -> None:
    with pytest.raises(UnknownModelError, match=re.escape("agentsmall models pull qwen3-0.6b")):
        resolve_model_path("qwen3-0.6b")
    with pytest.raises(UnknownModelError, match=re.escape("Llama 3.2 Community License")):
        load_model("llama3.2-3b")


def test_a_pulled_seed_resolves_to_the_cached_file(models_dir: Path) -> None:
    preset = PRESETS["qwen3-0.6b"].preset
    path = cached_path(preset)
    assert path == models_dir / "qwen3-0.6b" / "Qwen3-0.6B-Q4_K_M.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    assert resolve_model_path("Qwen3-0.6B") == ("qwen3-0.6b", path)
    assert PRESETS["qwen3-0.6b"].is_available()


def test_paths_and_embedded_names_still_resolve(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    assert resolve_model_path(str(gguf)) == ("mine", gguf)
    name, path = resolve_model_path(None)
    assert name == "smollm2-135m" and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_run_with_an_unpulled_seed_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "hello", "--model", "gemma3-4b"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "Traceback" not in captured.err
    assert "agentsmall models pull gemma3-4b" in " ".join(captured.err.split())


def test_cli_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert set(rows) == set(PRESETS)
    assert rows["smollm2-135m"]["available"] is True
    assert rows["phi4-mini"]["available"] is False
    assert rows["phi4-mini"]["download_url"].endswith(
        "/resolve/main/Phi-4-mini-instruct-Q4_K_M.gguf"
    )


def test_cli_list_and_info_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    err = capsys.readouterr().err
    assert "qwen3.5-4b" in err and "not pulled" in err
    assert main(["models", "info", "gemma3n-e4b"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "Gemma Terms of Use must be accepted" in err


def test_cli_info_json_and_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "info", "smollm3-3b", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["tool_format"], info["thinking"], info["context_length"]) == (
        "smollm3",
        "switch",
        65536,
    )
    assert main(["models", "info", "gpt-5"]) == 2
    captured = capsys.readouterr()
    assert "unknown model 'gpt-5'" in captured.err and "Traceback" not in captured.err
