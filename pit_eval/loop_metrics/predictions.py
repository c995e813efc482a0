"""Per-image predictions: for each image its index in the dataset scan, label, top-5 classes with
their probabilities, the probability of the label and the softmax's sum of squares (so top-1/top-5,
the fingerprint, ECE, NLL and Brier are re-derivable from the rows); optionally the full logits
(float16), and named max-softmax scores (out-of-distribution detection: ImageNet-O). Written to
``predictions/<cell key>.parquet`` by :mod:`pit_eval.prediction_files`."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch

from .base import Batch, RowMetric, register


@register
class Predictions(RowMetric):
    """``mapped``: the labels are not classes of the softmax (IN-9's superclasses, the cue-conflict
    shape categories), so ``p_label`` is left empty (NaN). ``scores``: column name -> the classes of a
    softmax whose maximum the column holds (None: the scored classes), float32 as ``F.softmax`` gives
    it, e.g. ``msp_imagenet-o``: the max softmax over ImageNet-O's 200 classes."""
    name = "predictions"

    def __init__(self, logits: bool = False, mapped: bool = False,
                 scores: Optional[Dict[str, Optional[Sequence[int]]]] = None) -> None:
        self.logits, self.mapped = logits, mapped
        self.scores = {k: None if v is None else list(v) for k, v in (scores or {}).items()}
        self._idx: Dict[str, torch.Tensor] = {}

    def rows(self, batch: Batch) -> Dict[str, torch.Tensor]:
        top5 = batch.top5
        out = {"index": batch.indices, "label": batch.labels, "top5": top5,
               "top5_prob": batch.probs.gather(1, top5), "sum_p2": batch.sum_p2,
               "p_label": (torch.full_like(batch.sum_p2, float("nan"), dtype=torch.float64) if self.mapped
                           else batch.log_p_label.exp())}
        if self.logits:
            out["logits"] = batch.logits.half()
        for column, classes in self.scores.items():
            out[column] = self._restricted(batch.logits, column, classes).softmax(dim=1).max(dim=1).values
        return out

    def _restricted(self, logits: torch.Tensor, column: str, classes) -> torch.Tensor:
        if classes is None:
            return logits
        if column not in self._idx or self._idx[column].device != logits.device:
            self._idx[column] = torch.tensor(classes, device=logits.device)
        return logits[:, self._idx[column]]
