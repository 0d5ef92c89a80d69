"""Running a model: the one layer eval, extract, index/search, explain and export go through.

  model.py         a checkpoint (store/checkpoint.py `Checkpoint`) loaded for inference, with the config to run it
  resolve.py       what `--checkpoint` names: a file, `none` (initial.py), a classical config (classical.py),
                   `--fuse` (fused_checkpoint.py)
  extract.py       one feature per tracklet, with one sampling and fallback policy (sampling_plan)
  feature_cache.py feature files keyed by that hash, the settings, the code and the data
  evaluate.py      query/gallery features -> distances -> metrics under a protocol
"""
