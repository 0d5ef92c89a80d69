"""Running a model: the one layer eval, extract, index/search, explain and export go through.

  model.py         a checkpoint (or `--checkpoint none`, initial.py) loaded for inference, with the config to run it
  identity.py      the feature-space hash, shared by feature files and search indexes
  extract.py       one feature per tracklet, with one sampling and fallback policy (sampling_plan)
  feature_cache.py feature files keyed by that hash, the settings, the code and the data
  evaluate.py      query/gallery features -> distances -> metrics under a protocol
"""
