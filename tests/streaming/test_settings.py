import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from streaming.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_loopback_and_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("TAILOR_"):
            monkeypatch.delenv(key)
    s = load_settings()
    assert s.kafka_bootstrap is None
    assert s.metrics_host == "127.0.0.1"
    assert s.topic_raw_video == "tailor.raw.video"


def test_environment_is_read_and_settings_are_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TAILOR_PARTITIONS", "12")
    s = load_settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092" and s.partitions == 12
    with pytest.raises(ValidationError):  # frozen
        s.partitions = 3  # type: ignore[misc]


def test_bad_value_names_the_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_PARTITIONS", "many")
    with pytest.raises(SettingsError) as err:
        load_settings()
    msg = str(err.value)
    assert "TAILOR_PARTITIONS" in msg and "\n" not in msg


def test_sasl_without_password_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_USERNAME", "svc")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "TAILOR_KAFKA_SASL_PASSWORD" in str(err.value)


def test_password_is_secret_and_passes_to_clients(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from streaming.kafka_clients import aiokafka_kwargs, kafka_python_kwargs

    ca = tmp_path / "ca.pem"
    ca.write_text("not used for connecting here")
    monkeypatch.setenv("TAILOR_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("TAILOR_KAFKA_SASL_PASSWORD", "hunter2")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    kp = kafka_python_kwargs(s, "b:9092")
    ak = aiokafka_kwargs(s, "b:9092")
    assert kp["sasl_plain_password"] == ak["sasl_plain_password"] == "hunter2"
    assert kp["security_protocol"] == ak["security_protocol"] == "SASL_PLAINTEXT"


def test_cli_prints_one_line_and_exits_2_on_bad_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "TAILOR_METRICS_PORT": "99999", "TAILOR_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "TAILOR_METRICS_PORT" in lines[0], proc.stderr


def test_config_show_masks_secrets_and_a_misspelt_variable_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A misspelt TAILOR_* variable used to be ignored in silence; now every command warns at start, naming the
    closest setting; `tailor config show` prints the effective values with the password masked."""
    import json

    env = {
        "PATH": "/usr/bin:/bin",
        "TAILOR_DATA_DIR": str(tmp_path),
        "TAILOR_KAFKA_BOOTSRAP": "k1:9092",
        "TAILOR_PARTITIONS": "12",
        "TAILOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TAILOR_KAFKA_SASL_MECHANISM": "PLAIN",
        "TAILOR_KAFKA_SASL_USERNAME": "svc",
        "TAILOR_KAFKA_SASL_PASSWORD": "hunter2",
        "TAILOR_TANSU_LOG": "debug",
        "TAILOR_GPU_PORT": "8011",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "app.cli", "config", "show", "--json"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["TAILOR_PARTITIONS"] == 12 and shown["TAILOR_KAFKA_BOOTSTRAP"] is None
    assert shown["TAILOR_KAFKA_SASL_PASSWORD"] == "**********" and "hunter2" not in proc.stdout + proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "is not a Tailor setting" in ln]
    assert len(warnings) == 1, proc.stderr  # the broker's and the GPU script's variables are known
    assert "TAILOR_KAFKA_BOOTSRAP" in warnings[0] and "did you mean TAILOR_KAFKA_BOOTSTRAP?" in warnings[0]


def test_default_vllm_env_and_model_resolve_against_the_installation(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """From another working directory the defaults still name the installation's `.venv-vllm` and model cache
    (made by `make setup`); an absolute path from a setting stays as given."""
    from pathlib import Path

    from agents.vllm_server_config import VllmServerConfig

    repo = Path(__file__).resolve().parents[2]
    for key in list(__import__("os").environ):
        if key.startswith("TAILOR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.vllm_venv == repo / ".venv-vllm" and s.model_dir == repo / ".cache/models/SmolLM2-135M-Instruct"
    assert (s.vllm_venv / "bin" / "python").is_file() and (s.model_dir / "config.json").is_file()
    assert VllmServerConfig(model_dir=s.model_dir).venv == s.vllm_venv
    assert s.vllm_start_timeout_s == 600 and s.vllm_start_quiet_s == 300
    monkeypatch.setenv("TAILOR_VLLM_VENV", str(tmp_path / "venv"))
    monkeypatch.setenv("TAILOR_MODEL_DIR", "/models/base")
    monkeypatch.setenv("TAILOR_VLLM_START_TIMEOUT_S", "1200")
    s = load_settings()
    assert s.vllm_venv == tmp_path / "venv" and s.model_dir == Path("/models/base")
    assert s.vllm_start_timeout_s == 1200


def test_a_config_file_and_dotenv_sit_below_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tailor --config tailor.toml` (tables only group keys) < `.env` in the working directory < the
    environment; other tools' variables in .env are left alone, a misspelt TAILOR_ one there is warned about,
    and an unknown key in the file is an error naming it."""
    import json

    (tmp_path / "tailor.toml").write_text(
        '[kafka]\npartitions = 5\nkafka_sasl_username = "from-file"\n[windows]\nwindow_max_items = 33\n'
    )
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=x\nTAILOR_PARTITIONS=7\nTAILOR_WINDOW_MAX_ITEM=9\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),  # this checkout's code, from tmp_path
        "TAILOR_DATA_DIR": str(tmp_path),
        "TAILOR_WINDOW_MAX_ITEMS": "44",
    }

    def show(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "app.cli", *args, "config", "show", "--json"]
        return subprocess.run(
            cmd, env=env, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=60
        )

    proc = show("--config", "tailor.toml")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["TAILOR_KAFKA_SASL_USERNAME"] == "from-file"  # the file
    assert shown["TAILOR_PARTITIONS"] == 7  # .env over the file
    assert shown["TAILOR_WINDOW_MAX_ITEMS"] == 44  # the environment over both
    warnings = [ln for ln in proc.stderr.splitlines() if "is not a Tailor setting" in ln]
    assert len(warnings) == 1 and "did you mean TAILOR_WINDOW_MAX_ITEMS?" in warnings[0], proc.stderr
    (tmp_path / "bad.toml").write_text("[kafka]\npartitons = 5\n")
    proc = show("--config", "bad.toml")
    assert proc.returncode == 2 and "TAILOR_PARTITONS: Extra inputs are not permitted" in proc.stderr, (
        proc.stderr
    )


# --- the nested groups: TAILOR_TASKS__... and TAILOR_EXTRACTORS__... -------------------------------------------

NESTED = "TAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DISTRACTOR_FRAGMENTS"


def _bare(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No TAILOR_* variable of the caller's environment, and a working directory without a .env."""
    for key in list(__import__("os").environ):
        if key.startswith("TAILOR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAILOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TAILOR_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # create_app needs one; nothing connects


def _worker(settings):  # type: ignore[no-untyped-def]
    """What the worker builds from `settings` (streaming/app.py `create_app`, in-process, no broker): its task
    families by name and its anchoring per raw topic role."""
    from prometheus_client import CollectorRegistry

    from agents.synthesis.factory import BackendHandle
    from agents.synthesis.rules_backend import RulesBackend
    from core.metrics import TailorMetrics
    from streaming.app import create_app

    tailor = create_app(
        settings, TailorMetrics(CollectorRegistry()), synthesis=BackendHandle(RulesBackend(), None)
    )
    # ingest stage -> AfterRecovery -> Windower -> AnchorEmitter -> the domain's WindowAnchoring
    anchoring = {role: stage.handlers[0].inner.closer.anchoring for role, stage in tailor.stages.items()}
    return tailor.synthesis.families, anchoring


def _gui_window(key: str):  # type: ignore[no-untyped-def]
    """A GUI window of two subtasks whose descriptions name its session (distinct fragments per session)."""
    from core.records import Anchor, AnchorSet, SourceSpan

    span = SourceSpan(topic="raw", partition=0, first_offset=0, last_offset=9, start_time=0.0, end_time=1.0)
    parts = [("open", 0, 4), ("close", 5, 9)]
    return AnchorSet(
        window_id=f"gui:{key}:0",
        domain="gui",
        key=key,
        span=span,
        num_frames=10,
        created_at=0.0,
        anchors=[
            Anchor(
                anchor_id=f"s{i}",
                type="subtask",
                frame_index=start,
                end_frame_index=end,
                timestamp=start / 10,
                content=f"{verb} the {key} settings",
            )
            for i, (verb, start, end) in enumerate(parts)
        ],
    )


def _distractors_planned(family) -> int:  # type: ignore[no-untyped-def]
    from agents.tasks.base import SynthesisContext, TaskSpec

    others = tuple(_gui_window(f"other{i}") for i in range(4))  # 8 candidate fragments from other sessions
    ctx = SynthesisContext(_gui_window("mine"), TaskSpec(family.name, "i-1", "gui"), others)
    return sum(not p.true for p in family.plan(ctx))


def test_nested_settings_reach_the_worker_from_env_dotenv_and_file(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A nested variable, a .env line and a TOML table each set a field of a nested group, merged field by
    field with environment > .env > file; the worker's families and expert pipelines are built from them (the
    file's flat grouping tables still work beside the nested ones)."""
    from agents.extractors.gui.screen_change import ScreenChangeExtractor

    _bare(monkeypatch, tmp_path)
    families, anchoring = _worker(load_settings())
    assert _distractors_planned(families["gui_task_reconstruction"]) == 2  # the default
    # the file alone
    (tmp_path / "tailor.toml").write_text(
        "[kafka]\npartitions = 5\n"
        "[tasks.gui_task_reconstruction]\nmax_distractor_fragments = 1\nmax_true_fragments = 5\n"
        "max_description_chars = 50\n"
        "[extractors.gui.screen_change]\nmajor_change = 0.3\n"
        "[extractors.video]\njpeg_quality = 70\n"
    )
    monkeypatch.setenv("TAILOR_CONFIG_FILE", str(tmp_path / "tailor.toml"))
    assert _distractors_planned(_worker(load_settings())[0]["gui_task_reconstruction"]) == 1
    # .env over the file
    (tmp_path / ".env").write_text(
        f"{NESTED}=3\nTAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DESCRIPTION_CHARS=70\n"
        "TAILOR_EXTRACTORS__VIDEO__JPEG_QUALITY=75\n"
    )
    assert _distractors_planned(_worker(load_settings())[0]["gui_task_reconstruction"]) == 3
    # the environment over both; each source sets its own fields of the same group
    monkeypatch.setenv("TAILOR_TASKS__GUI_TASK_RECONSTRUCTION__MAX_DESCRIPTION_CHARS", "90")
    s = load_settings()
    families, anchoring = _worker(s)
    family = families["gui_task_reconstruction"]
    assert family.config.max_true_fragments == 5  # the file
    assert family.config.max_distractor_fragments == 3  # .env over the file
    assert family.config.max_description_chars == 90  # the environment over .env and the file
    assert s.partitions == 5  # a flat setting in a grouping table
    screen = next(e for e in anchoring["raw_gui"].pipeline.steps if isinstance(e, ScreenChangeExtractor))
    assert screen.config.major_change == 0.3  # the file, in the GUI pipeline the worker runs
    video = anchoring["raw_video"].config
    assert video.jpeg_quality == 75 and video.frame_max_side == 640  # .env over the file; the stage's default
    monkeypatch.setenv(NESTED, "4")
    assert _distractors_planned(_worker(load_settings())[0]["gui_task_reconstruction"]) == 4
    with pytest.raises(ValidationError):  # frozen, nested groups too
        s.tasks.gui_task_reconstruction.max_distractor_fragments = 1  # type: ignore[misc]


def test_ocr_enabled_is_the_worker_wide_switch_over_the_pipelines_flags(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """An OCR expert runs where TAILOR_OCR_ENABLED and its pipeline's flag are both true."""
    from agents.extractors.gui.target_ocr import TargetOcrExtractor

    def ocr() -> tuple[bool, bool]:
        anchoring = _worker(load_settings())[1]
        gui = any(isinstance(e, TargetOcrExtractor) for e in anchoring["raw_gui"].pipeline.steps)
        return gui, anchoring["raw_video"].ocr

    _bare(monkeypatch, tmp_path)
    assert ocr() == (True, True)
    monkeypatch.setenv("TAILOR_EXTRACTORS__GUI__OCR", "false")
    assert ocr() == (False, True)
    monkeypatch.delenv("TAILOR_EXTRACTORS__GUI__OCR")
    monkeypatch.setenv("TAILOR_EXTRACTORS__VIDEO__OCR_ENABLED", "false")
    assert ocr() == (True, False)
    monkeypatch.delenv("TAILOR_EXTRACTORS__VIDEO__OCR_ENABLED")
    monkeypatch.setenv("TAILOR_OCR_ENABLED", "false")
    assert ocr() == (False, False)


def test_nested_names_are_known_misspelt_ones_warned_and_errors_name_them(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from streaming.settings import unknown_variables

    typo = NESTED[:-1]  # ..._FRAGMENT
    assert unknown_variables({NESTED: "3", "TAILOR_TASKS": "{}", typo: "3"}) == [(typo, NESTED)]
    _bare(monkeypatch, tmp_path)
    monkeypatch.setenv(typo, "3")  # ignored, like a misspelt flat name (only warned about)
    assert load_settings().tasks.gui_task_reconstruction.max_distractor_fragments == 2
    monkeypatch.setenv(NESTED, "99")  # le=6
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert f"{NESTED}: Input should be less than or equal to 6" in str(err.value)
    monkeypatch.delenv(NESTED)
    monkeypatch.setenv("TAILOR_EXTRACTORS__ROBOT__KEY_FRAMES__CAMERAS", "wrist")  # a list is JSON
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "TAILOR_EXTRACTORS__ROBOT__KEY_FRAMES__CAMERAS: not valid JSON" in str(err.value)
    monkeypatch.setenv("TAILOR_EXTRACTORS__ROBOT__KEY_FRAMES__CAMERAS", '["wrist"]')
    assert load_settings().extractors.robot.key_frames.cameras == ["wrist"]
    (tmp_path / "bad.toml").write_text("[tasks.gui_task_reconstruction]\nmax_distractor_fragment = 3\n")
    monkeypatch.setenv("TAILOR_CONFIG_FILE", str(tmp_path / "bad.toml"))
    with pytest.raises(SettingsError) as err:  # in the file an unknown key is an error, as a flat one is
        load_settings()
    assert f"{typo}: Extra inputs are not permitted (did you mean {NESTED}?)" in str(err.value)


def test_config_show_prints_nested_settings_by_their_variable_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`tailor config show` flattens the nested groups to one variable name per field; a misspelt nested
    variable is warned about at start, naming the closest nested name."""
    import json

    (tmp_path / "tailor.toml").write_text("[extractors.gui.target_ocr]\nmin_score = 0.7\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),  # this checkout's code, from another working directory
        "TAILOR_DATA_DIR": str(tmp_path),
        NESTED: "3",
        NESTED[:-1]: "4",
    }
    cmd = [sys.executable, "-m", "app.cli", "--config", "tailor.toml", "config", "show"]
    proc = subprocess.run(
        [*cmd, "--json"], env=env, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown[NESTED] == 3 and shown["TAILOR_EXTRACTORS__GUI__TARGET_OCR__MIN_SCORE"] == 0.7
    assert shown["TAILOR_EXTRACTORS__ROBOT__KEY_FRAMES__CAMERAS"] == [] and "TAILOR_TASKS" not in shown
    warnings = [ln for ln in proc.stderr.splitlines() if "is not a Tailor setting" in ln]
    assert len(warnings) == 1 and f"{NESTED[:-1]} is not" in warnings[0], proc.stderr
    assert f"did you mean {NESTED}?" in warnings[0]
    lines = subprocess.run(cmd, env=env, cwd=tmp_path, check=True, capture_output=True, text=True, timeout=60)
    assert f"{NESTED}=3" in lines.stdout.splitlines()
