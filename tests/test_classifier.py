"""The book's MNIST classifier: shapes, hand-computed helper values, caching, bad input, and real accuracy."""
from __future__ import annotations

import math

import pytest
import torch

from gan_lessons import classifier as C
from gan_lessons import data


def _tiny_data(n=40):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.arange(n) % 10


def test_shapes_of_logits_and_features():
    torch.manual_seed(0)
    net = C.DigitClassifier().eval()
    x = torch.zeros(3, 1, 28, 28)
    assert net(x).shape == (3, 10)
    assert net.features(x).shape == (3, C.DigitClassifier.feature_dim)
    torch.testing.assert_close(net.head(net.features(x)), net(x))  # logits = head(features)


def test_training_is_deterministic():
    x, y = _tiny_data()
    recipe = C.Recipe(steps=4, batch_size=8)
    a, b = C.train_classifier(x, y, recipe), C.train_classifier(x, y, recipe)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not a.training


def test_cache_roundtrip(monkeypatch, tmp_path, capsys):
    x, y = _tiny_data()
    monkeypatch.setenv("GAN_LESSONS_DATA", str(tmp_path))
    monkeypatch.setattr(data, "mnist", lambda split="train", **kw: (x, y))
    monkeypatch.setattr(C, "_model", {})
    recipe = C.Recipe(steps=3, batch_size=8)
    first = C.get_classifier(recipe)
    assert "Training" in capsys.readouterr().out
    files = list(tmp_path.glob("classifier-*.pt"))
    assert len(files) == 1
    monkeypatch.setattr(C, "_model", {})
    second = C.get_classifier(recipe)  # loaded from disk (weights_only=True), not retrained
    assert "Training" not in capsys.readouterr().out
    assert not second.training and not any(p.requires_grad for p in second.parameters())
    for p, q in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(p, q)
    C.get_classifier(C.Recipe(steps=2, batch_size=8))  # another recipe, another file
    assert len(list(tmp_path.glob("classifier-*.pt"))) == 2


def test_class_entropy_hand_computed(monkeypatch):
    x = torch.zeros(4, 1, 28, 28)
    monkeypatch.setattr(C, "predict", lambda images: torch.tensor([0, 0, 1, 1]))
    assert C.class_entropy(x) == pytest.approx(math.log(2))  # two classes, half each
    monkeypatch.setattr(C, "predict", lambda images: torch.tensor([3, 3, 3, 3]))
    assert C.class_entropy(x) == 0.0  # one class: collapse
    monkeypatch.setattr(C, "predict", lambda images: torch.tensor([0, 0, 1, 2]))
    # p = (1/2, 1/4, 1/4): H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2
    assert C.class_entropy(x) == pytest.approx(1.5 * math.log(2))
    monkeypatch.setattr(C, "predict", lambda images: torch.arange(10))
    assert C.class_entropy(torch.zeros(10, 1, 28, 28)) == pytest.approx(math.log(10))


def test_recognised_fraction_and_predict_hand_computed(monkeypatch):
    logits = torch.zeros(4, 10)
    logits[0, 3] = 10.0  # softmax max = e^10 / (e^10 + 9) = 0.99959
    logits[1, 7] = 3.0  # e^3 / (e^3 + 9) = 0.6905
    logits[2, 1] = 5.0  # e^5 / (e^5 + 9) = 0.9428
    monkeypatch.setattr(C, "_logits", lambda images, batch_size=1000: logits)
    x = torch.zeros(4, 1, 28, 28)
    assert C.recognised_fraction(x, threshold=0.9) == 0.5  # rows 0 and 2
    assert C.recognised_fraction(x, threshold=0.99) == 0.25  # row 0
    assert C.recognised_fraction(x, threshold=0.5) == 0.75  # row 3 is uniform (0.1 each): not recognised
    assert torch.equal(C.predict(x), torch.tensor([3, 7, 1, 0]))


def test_bad_input():
    net = C.DigitClassifier()
    with pytest.raises(ValueError, match=r"\[n, 1, 28, 28\]"):
        net(torch.zeros(2, 784))
    with pytest.raises(TypeError, match="torch.Tensor"):
        C.predict([[0.0] * 784])
    with pytest.raises(ValueError, match="floating point"):
        C.predict(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="threshold"):
        C.recognised_fraction(torch.zeros(2, 1, 28, 28), threshold=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        C.predict(torch.zeros(2, 1, 28, 28), batch_size=0)
    x, y = _tiny_data()
    with pytest.raises(ValueError, match="labels"):
        C.train_classifier(x, y[:5])
    with pytest.raises(ValueError, match="0..9"):
        C.train_classifier(x, y + 5)
    with pytest.raises(TypeError, match="Recipe"):
        C.get_classifier(recipe={"steps": 3})


@pytest.mark.slow
def test_real_classifier_recognises_held_out_digits():
    """Trains the real classifier once if it is not cached (about 10 s of CPU), then checks it on held-out data."""
    net = C.get_classifier()
    test_x, test_y = data.mnist("test")
    assert C.classifier_accuracy() > 0.9
    assert C.recognised_fraction(test_x) > 0.8
    assert C.class_entropy(test_x) > 0.95 * math.log(10)  # all ten classes predicted about equally often
    ones = test_x[test_y == 1]
    assert C.class_entropy(ones) < 0.5  # one class in, (nearly) one class out
    assert net.features(test_x[:5]).min() >= 0  # ReLU features
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert C.recognised_fraction(noise) < C.recognised_fraction(test_x[:200])
