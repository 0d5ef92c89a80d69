"""What vidreid keeps on disk, below both training (engine/) and inference (inference/):

  checkpoint.py   `Checkpoint` (a .safetensors file read once: metadata at open, tensors at most once, lazily),
                  writing checkpoints and training states, `Checkpointer` (a training run's writer)
  identity.py     the feature-space hash (`model_hash`) shared by feature files, indexes, calibration and ONNX
  run_folder.py   the layout of a run folder (checkpoints/, features/, eval/, calibration) and its no-clobber rules
"""
