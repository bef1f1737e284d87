"""``vocabgraft demo``: the common questions about reusing embeddings, answered on real data.

Five steps on GloVe 6B 50d and 5,000 Amazon fine-food reviews, offline:

1. transfer: a task vocabulary aligned to GloVe, with its coverage report;
2. four ways to treat the embedding (all frozen, only unmatched rows train,
   all train, frozen then unfrozen), with accuracy spread over seeds, trainable
   parameters, optimizer state and time;
3. new words added to a trained model, only their rows trained, every old row
   bit-identical;
4. new items (products) added to an item embedding, started from neighbours;
5. drift of fine-tuned rows, and what it does to "tv" and "television".

Needs ``pip install 'vocabgraft[demo]'``. From Python::

    from vocabgraft.demo import DemoConfig, run_demo
    results = run_demo(DemoConfig.create(quick=True, out="report"))
"""

from __future__ import annotations

from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.run import run_demo

__all__ = ["DemoConfig", "run_demo"]
