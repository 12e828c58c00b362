"""The digits evaluator: trained from an empty cache, accurate on held-out digits, cached."""

import torch

from explorer.evaluation.digits import cache_path, classifier, evaluate_digits, split


def test_classifier_trains_from_scratch_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    classifier.cache_clear()
    try:
        _, _, x_test, y_test = split()
        report = evaluate_digits(x_test)  # trains under evaluate_digits' no_grad
        assert cache_path().exists()
        with torch.no_grad():
            accuracy = (classifier()(x_test).argmax(1) == y_test).float().mean().item()
        assert accuracy >= 0.97  # held-out digits the classifier never saw
        assert report.confidence > 0.95 and sum(report.histogram) == len(x_test)
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
