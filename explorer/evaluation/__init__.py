"""How good samples are: distances, the digits evaluator, class readings, each dataset's quality metric."""
