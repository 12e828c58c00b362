"""The digits evaluator: shipped, accurate on held-out digits; without the shipped file it trains into the
cache and is loaded from there next time."""

import json

import torch

from explorer.evaluation import digits
from explorer.evaluation.digits import cache_path, classifier, evaluate_digits, held_out_accuracy, split


def test_the_shipped_evaluator_gets_the_held_out_digits_right():
    record = json.loads(digits.shipped_path().with_suffix(".json").read_text())
    assert record["version"] == digits.VERSION and record["command"].startswith("python -m explorer evaluator")
    classifier.cache_clear()
    try:
        model = classifier()
        assert held_out_accuracy(model) == record["held_out_accuracy"] >= 0.995  # 296 of 297
    finally:
        classifier.cache_clear()


def test_without_the_shipped_file_the_classifier_trains_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(digits, "shipped_path", lambda: tmp_path / "absent" / digits.EVALUATOR_FILE)
    classifier.cache_clear()
    try:
        _, _, x_test, y_test = split()
        report = evaluate_digits(x_test)  # trains under evaluate_digits' no_grad
        assert cache_path().exists()
        assert held_out_accuracy(classifier()) >= 0.995  # held-out digits the classifier never saw
        assert report.confidence > 0.9 and sum(report.histogram) == len(x_test)
        assert report.nearest_distance == 0.0 and report.memorised == 1.0  # they are dataset images
        noise = evaluate_digits(torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
        assert noise.memorised == 0.0 and noise.nearest_distance > 3.0
        trained = classifier()
        classifier.cache_clear()
        cached = classifier()  # loads the file this time
        assert cached is not trained
        with torch.no_grad():
            torch.testing.assert_close(cached(x_test[:5]), trained(x_test[:5]))
    finally:
        classifier.cache_clear()
