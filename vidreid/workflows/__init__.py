"""What the commands do, as library functions: `vidreid/commands/` only parse arguments and call these.

  evaluation.py   `vidreid eval`: checkpoint resolution, cached features, metrics, pictures, calibration, --split all
  adaptation.py   `vidreid adapt`: the run's config, cutting videos into tracklets, the adapt run
  training.py     `vidreid train` / `plot` / `demo`: the training picture, the demo run and its report
  explanation.py  `vidreid explain`: a model's attention on one tracklet
  extraction.py   `vidreid extract`: one split's features to a feature file
  tracklets.py    `vidreid tracklets`: videos -> tracklets
"""
