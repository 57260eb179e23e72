"""Models: the language model (:mod:`.language`) and the model-file format (:mod:`.modelfile`)."""
