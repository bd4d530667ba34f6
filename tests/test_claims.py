"""Checked claims: the verdict follows the data, the true wording is chosen, expected claims fail loudly."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gan_lessons import claims


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch):
    monkeypatch.delenv("GAN_LESSONS_CLAIMS", raising=False)
    claims.clear()
    yield
    claims.clear()


def test_verdict_and_wording_follow_the_data():
    for value, verdict in ((0.01, True), (0.4, False)):
        got = claims.claim("stalls", value < 0.05, true_text="stalls", false_text="keeps moving",
                           because={"d_fake": value})
        assert got is verdict
        entry = claims.registry()["stalls"]
        assert entry["verdict"] is verdict
        assert entry["text"] == ("stalls" if verdict else "keeps moving")
        assert entry["because"] == {"d_fake": value}
        assert entry["expected"] is False


def test_numpy_and_torch_booleans_are_accepted():
    assert claims.claim("a", np.float64(1.0) > 0, true_text="t", false_text="f") is True
    assert claims.claim("b", torch.tensor(0.5) > 1, true_text="t", false_text="f",
                        because={"x": torch.tensor(0.5)}) is False
    assert claims.registry()["b"]["because"] == {"x": 0.5}


def test_expected_claim_that_fails_raises_naming_it():
    with pytest.raises(claims.ClaimFailed, match="'minimax_stalls'"):
        claims.claim("minimax_stalls", False, true_text="stalls", false_text="moves", expected=True)
    assert claims.registry()["minimax_stalls"]["verdict"] is False  # recorded before raising


def test_expected_claim_that_holds_passes():
    assert claims.claim("ok", True, true_text="t", false_text="f", expected=True) is True


def test_report_mode_warns_instead(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CLAIMS", "report")
    with pytest.warns(claims.ClaimWarning, match="'soft'"):
        assert claims.claim("soft", False, true_text="t", false_text="f", expected=True) is False


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GAN_LESSONS_CLAIMS", "lenient")
    with pytest.raises(ValueError, match="GAN_LESSONS_CLAIMS"):
        claims.claim("x", False, true_text="t", false_text="f", expected=True)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "has space", "holds": True}, "identifier"),
    ({"name": "x", "holds": 0.7}, "boolean"),
    ({"name": "x", "holds": np.array([True, False])}, "one truth value"),
    ({"name": "x", "holds": True, "true_text": ""}, "true_text"),
    ({"name": "x", "holds": True, "expected": "yes"}, "expected"),
])
def test_bad_input_is_a_clear_error(kwargs, match):
    args = {"true_text": "t", "false_text": "f", **kwargs}
    with pytest.raises(ValueError, match=match):
        claims.claim(args.pop("name"), args.pop("holds"), **args)


def test_save_writes_json_when_asked(tmp_path, monkeypatch):
    claims.claim("one", True, true_text="t", false_text="f", because={"n": float("nan")})
    monkeypatch.delenv("GAN_LESSONS_CLAIMS_DIR", raising=False)
    assert set(claims.save("01_minimax")) == {"one"}
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv("GAN_LESSONS_CLAIMS_DIR", str(tmp_path))
    claims.save("01_minimax")
    saved = json.loads((tmp_path / "01_minimax.json").read_text())
    assert saved["one"]["verdict"] is True and saved["one"]["because"] == {"n": "nan"}
    with pytest.raises(ValueError, match="chapter"):
        claims.save("../escape")


def test_glued_text_has_no_quotes(monkeypatch):
    glued = {}

    class Shell:  # a stand-in for the notebook kernel
        pass

    import IPython
    import myst_nb

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(myst_nb, "glue", lambda name, obj, display: glued.update({name: (obj, display)}))
    claims.claim("words", True, true_text="drops to zero", false_text="does not")
    obj, display = glued["words"]
    assert repr(obj) == "drops to zero" and display is False
